"""Batched online evaluation: run a trajectory policy in a gymnasium vector env, many episodes at once."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from ..backbone import Backbone
from ..modalities.streams import Stream, step_seed
from ..tokenizers.actions import ActionSpec
from ..tokenizers.trajectory import TrajectoryTokenizer
from .context import ContextPolicy, History


def eval_seed(seed: int, episode: int, stream: Stream = Stream.ROLLOUT) -> int:
    """The environment seed of evaluation episode `episode` (< 2**31, as gymnasium wants); another
    `stream` (validation rollouts) draws starts independent of every evaluation seed."""
    return step_seed(seed, stream, episode) % (2 ** 31)


def rollout(tokenizer: TrajectoryTokenizer, backbone: Backbone, task: nn.Module,
            make_env: Callable[[], gym.Env], episodes: int, target_return: float, return_scale: float,
            state_mean: Sequence[float] | np.ndarray | Tensor, state_std: Sequence[float] | np.ndarray | Tensor,
            context: int, seed: int, num_envs: int = 16, use_cache: bool = True,
            max_steps: Optional[int] = None, device: str | torch.device = "cpu",
            stream: Stream = Stream.ROLLOUT) -> dict:
    """Evaluate a Decision Transformer / behaviour-cloning policy for `episodes` episodes.

    Episodes run `num_envs` at a time in a `SyncVectorEnv`, all rows in lockstep with one batched
    forward per environment step, until every row of the chunk is done; a row's data after its
    episode ends (gymnasium's next-step autoreset) is ignored. Episode i uses the environment seed
    `eval_seed(seed, i, stream)`, so every method compared meets the same initial states, whatever
    `num_envs` is.

    Conditioning: R_1 = target_return, R_{t+1} = R_t - r_t, fed as R_t / return_scale; states are
    normalised with (obs - state_mean) / state_std; actions are greedy (argmax, or the squashed
    mean clipped to the bounds). Behaviour cloning ignores the returns.

    Context: at most `context` steps (the training window). With `use_cache` each step appends
    [a_{t-1}, R_t, s_t] to a KV cache (the first step [R_1, s_1]) and reads the s_t output; when the
    window would exceed `context` steps, the most recent `context // 2` steps are re-encoded into a
    reset cache and it grows again, so the model always sees between context//2 and context steps,
    each a prefix of a training-like window with absolute timesteps. `use_cache=False` recomputes
    exactly the same window with one full forward per step (same actions up to float rounding).

    Returns:
        {"returns", "lengths", "seeds": per episode; "return_mean", "return_std", "length_mean",
         "env_steps" (real episode steps), "seconds", "env_steps_per_s"}.
    """
    if episodes < 1 or num_envs < 1:
        raise ValueError(f"episodes and num_envs must be >= 1, got {episodes} and {num_envs}")
    if return_scale <= 0:
        raise ValueError(f"return_scale: must be positive, got {return_scale}")
    n = min(num_envs, episodes)
    norm = _normaliser(state_mean, state_std, device)
    envs = gym.vector.SyncVectorEnv([make_env] * n)
    returns: list[float] = []
    lengths: list[int] = []
    try:
        with _eval_mode(tokenizer, backbone, task), torch.inference_mode():
            policy = ContextPolicy(tokenizer, backbone, task, context, n, use_cache)
            began = time.perf_counter()
            for first in range(0, episodes, n):
                seeds = [eval_seed(seed, i, stream) for i in range(first, first + n)]
                active = min(n, episodes - first)
                r, l = _run_chunk(envs, policy, task.action, seeds, active, norm,
                                  target_return, return_scale, max_steps, device)
                returns += r
                lengths += l
            seconds = time.perf_counter() - began
    finally:
        envs.close()
    return _summary(returns, lengths, [eval_seed(seed, i, stream) for i in range(episodes)], seconds)


def _run_chunk(envs: gym.vector.VectorEnv, policy: ContextPolicy, action: ActionSpec, seeds: list[int],
               active: int, norm: Callable[[np.ndarray], Tensor], target_return: float,
               return_scale: float, max_steps: Optional[int], device) -> tuple[list[float], list[int]]:
    """Run one episode per row until the first `active` rows are done; their returns and lengths."""
    obs, _ = envs.reset(seed=seeds)
    n = len(seeds)
    done = np.arange(n) >= active  # rows past `active` only fill the batch
    total, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    to_go = np.full(n, float(target_return))
    history = History(action, n, device)
    policy.reset()
    t = 0
    while not done.all() and (max_steps is None or t < max_steps):
        history.append(torch.as_tensor(to_go / return_scale), norm(obs), t)
        a = policy.act(history)  # (B,) or (B, A)
        history.set_action(a)
        obs, reward, terminated, truncated, _ = envs.step(_env_actions(a, action))
        live = ~done
        total[live] += reward[live]
        length[live] += 1
        done |= terminated | truncated
        to_go = to_go - reward
        t += 1
    return total[:active].tolist(), length[:active].tolist()


def _env_actions(a: Tensor, action: ActionSpec) -> np.ndarray:
    """Model actions as the vector env wants them: ids from `start`, or float32 values within bounds."""
    if action.discrete:
        return a.long().cpu().numpy() + action.start
    low, high = np.asarray(action.low, np.float32), np.asarray(action.high, np.float32)
    return np.clip(a.float().cpu().numpy(), low, high)


def _normaliser(mean, std, device) -> Callable[[np.ndarray], Tensor]:
    """obs (B, S) -> (obs - mean) / std as float32 on `device`."""
    mean = torch.as_tensor(np.asarray(mean, dtype=np.float32), device=device)
    std = torch.as_tensor(np.asarray(std, dtype=np.float32), device=device)
    return lambda obs: (torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device) - mean) / std


def _summary(returns: list[float], lengths: list[int], seeds: list[int], seconds: float) -> dict:
    steps = int(sum(lengths))
    return {"returns": returns, "lengths": lengths, "seeds": seeds,
            "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)),
            "length_mean": float(np.mean(lengths)), "env_steps": steps, "seconds": seconds,
            "env_steps_per_s": steps / max(seconds, 1e-9)}


@contextmanager
def _eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Modules in eval mode inside the block; their training flags restored after."""
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.train(flag)


def normalized_score(returns, ref_min: float, ref_max: float):
    """D4RL-style score 100 * (R - ref_min) / (ref_max - ref_min), for a number or an array."""
    score = 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)
    return float(score) if score.ndim == 0 else score
