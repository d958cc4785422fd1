"""Batched online evaluation: run a trajectory policy in a gymnasium vector env, many episodes at once."""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from ..backbone import Backbone
from ..modalities.streams import Stream, step_seed
from ..tokenizers.trajectory import TrajectoryTokenizer
from .policy import TrajectoryPolicy, eval_mode


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
    n = min(num_envs, episodes)
    policy = TrajectoryPolicy(tokenizer, backbone, task, target_return=target_return, return_scale=return_scale,
                              state_mean=state_mean, state_std=state_std, context=context, num_envs=n,
                              use_cache=use_cache, device=device)
    envs = gym.vector.SyncVectorEnv([make_env] * n)
    try:
        return run_episodes(envs, policy, episodes, seed, max_steps, stream)
    finally:
        envs.close()


def run_episodes(envs: gym.vector.VectorEnv, policy: TrajectoryPolicy, episodes: int, seed: int,
                 max_steps: Optional[int] = None, stream: Stream = Stream.ROLLOUT) -> dict:
    """`episodes` episodes of `policy` in `envs` (as many rows as the policy's num_envs), chunk by
    chunk; episode i starts from `eval_seed(seed, i, stream)`. The figures of `rollout`."""
    n = policy.num_envs
    returns: list[float] = []
    lengths: list[int] = []
    with eval_mode(*policy.modules), torch.inference_mode():
        began = time.perf_counter()
        for first in range(0, episodes, n):
            seeds = [eval_seed(seed, i, stream) for i in range(first, first + n)]
            r, l = _run_chunk(envs, policy, seeds, min(n, episodes - first), max_steps)
            returns += r
            lengths += l
        seconds = time.perf_counter() - began
    return _summary(returns, lengths, [eval_seed(seed, i, stream) for i in range(episodes)], seconds)


def _run_chunk(envs: gym.vector.VectorEnv, policy: TrajectoryPolicy, seeds: list[int], active: int,
               max_steps: Optional[int]) -> tuple[list[float], list[int]]:
    """Run one episode per row until the first `active` rows are done; their returns and lengths.
    The policy is called exactly as a user's loop calls it: act(observation, previous reward)."""
    obs, _ = envs.reset(seed=seeds)
    n = len(seeds)
    done = np.arange(n) >= active  # rows past `active` only fill the batch
    total, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    policy.reset()
    reward, t = None, 0
    while not done.all() and (max_steps is None or t < max_steps):
        obs, reward, terminated, truncated, _ = envs.step(policy.act(obs, reward))
        live = ~done
        total[live] += reward[live]
        length[live] += 1
        done |= terminated | truncated
        t += 1
    return total[:active].tolist(), length[:active].tolist()


def _summary(returns: list[float], lengths: list[int], seeds: list[int], seconds: float) -> dict:
    steps = int(sum(lengths))
    return {"returns": returns, "lengths": lengths, "seeds": seeds,
            "return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)),
            "length_mean": float(np.mean(lengths)), "env_steps": steps, "seconds": seconds,
            "env_steps_per_s": steps / max(seconds, 1e-9)}


def normalized_score(returns, ref_min: float, ref_max: float):
    """D4RL-style score 100 * (R - ref_min) / (ref_max - ref_min), for a number or an array."""
    score = 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)
    return float(score) if score.ndim == 0 else score
