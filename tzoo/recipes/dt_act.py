"""A trained `dt` run acting outside training: a policy for the user's loop, rollouts in a given
environment, recorded episodes. All of them drive `tzoo.control.policy.TrajectoryPolicy`, the
class the evaluation rollouts (`tzoo eval`, training) drive too."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import gymnasium as gym

from ..errors import TzooError
from .base import Loaded


def make_policy(loaded: Loaded, cfg: Any, target_return: Optional[float] = None, num_envs: int = 1,
                use_cache: Optional[bool] = None, note: bool = True):
    """The run's policy for `num_envs` environments, conditioned on `target_return` (None: the run's
    first evaluation target); a note on stderr for a target outside the dataset's returns."""
    from ..control.policy import TrajectoryPolicy, target_range_note
    from .dt import targets_of

    stats, model, task = loaded.artefacts["stats"], loaded.model, loaded.task
    if target_return is None:
        target_return = targets_of(cfg.eval, stats)[0]
    elif note and cfg.task.kind == "dt":
        target_range_note(float(target_return), stats)
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise TzooError(f"policy: num_envs must be a positive integer, got {num_envs!r}")
    head = model.head(task)
    return TrajectoryPolicy(model.tokenizer(head.inputs[0], task), model.backbone, head,
                            target_return=float(target_return), return_scale=stats["return_scale"],
                            state_mean=stats["state_mean"], state_std=stats["state_std"], context=cfg.data.context,
                            num_envs=num_envs, use_cache=cfg.eval.use_cache if use_cache is None else use_cache,
                            device=next(model.parameters()).device)


def rollout(loaded: Loaded, cfg: Any, env: gym.Env | str, episodes: int, seed: int,
            target_return: Optional[float] = None, num_envs: Optional[int] = None,
            max_steps: Optional[int] = None, use_cache: Optional[bool] = None) -> dict:
    """Episodes of the run's policy in `env` (a gymnasium env, run one episode at a time and left
    open, or an env id, run `num_envs` at a time): episode i starts from `eval_seed(seed, i)`, as
    in `tzoo eval`. Returns {"returns", "lengths", "seeds", "return_mean", ...}."""
    from ..control.envs import make_env
    from ..control.evaluate import run_episodes
    from .dt import check_env, normalized_returns

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise TzooError(f"rollout: episodes must be a positive integer, got {episodes!r}")
    stats = loaded.artefacts["stats"]
    if isinstance(env, str):
        probe = make_env(env)
        try:
            check_env(probe, stats, f"rollout in {env}")
        finally:
            probe.close()
        n = min(num_envs or cfg.eval.num_envs, episodes)
        envs, owned = gym.vector.SyncVectorEnv([lambda: make_env(env)] * n), True
    elif isinstance(env, gym.Env):
        check_env(env, stats, f"rollout in {env.spec.id if env.spec else type(env.unwrapped).__name__}")
        if num_envs not in (None, 1):
            raise TzooError("rollout: one environment object runs one episode at a time; "
                            "pass an environment id for num_envs > 1")
        n, envs, owned = 1, gym.vector.SyncVectorEnv([lambda: env]), False
    else:
        raise TzooError(f"rollout: env must be a gymnasium environment or an environment id, got {type(env).__name__}")
    policy = make_policy(loaded, cfg, target_return, n, use_cache)
    try:
        out = run_episodes(envs, policy, episodes, seed, cfg.eval.max_steps if max_steps is None else max_steps)
    finally:
        if owned:
            envs.close()
    scores = normalized_returns(out["returns"], stats)
    if scores is not None:
        out["normalized_score"] = float(scores.mean())
    return {"target": policy.target_return, **out}


def recorder(loaded: Loaded, cfg: Any, make_env: Any, folder: Path, episodes: int) -> Callable[[], dict]:
    """A function recording the first `episodes` evaluation episodes (first target, the evaluation
    seeds) as videos in `folder` and returning {"folder", "files", "returns"}; made after checking
    that the environment renders (a one-line error otherwise, before anything is run or written)."""
    from ..control.evaluate import run_episodes
    from ..control.video import recording_maker
    from .dt import targets_of

    target = targets_of(cfg.eval, loaded.artefacts["stats"])[0]
    make, files = recording_maker(make_env, folder, f"{cfg.task.kind}-target{target:g}")

    def record() -> dict:
        policy = make_policy(loaded, cfg, target, 1, note=False)
        envs = gym.vector.SyncVectorEnv([make])
        try:
            out = run_episodes(envs, policy, episodes, cfg.eval.seed, cfg.eval.max_steps)
        finally:
            envs.close()  # writes an episode cut by max_steps
        return {"folder": str(folder), "files": [str(p) for p in files(episodes)], "returns": out["returns"]}
    return record
