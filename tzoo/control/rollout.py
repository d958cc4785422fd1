"""Seeds and single-episode rollouts for collection, and the reference scores of a dataset.

Keys under `Stream.COLLECT`: (0, i) seeds data episode i's environment, (1, i) its policy's
randomness; (2, j) and (3, j) do the same for reference episode j. Reference episodes use a fixed
base seed, so every dataset of one environment gets the same reference scores, and they skip any
environment seed the data uses, so the two never share an episode.
"""
from __future__ import annotations

from typing import Iterable

import gymnasium as gym
import numpy as np

from ..modalities.streams import Stream, step_seed
from .envs import make_env
from .flaws import Policy
from .policies import make_policy

GYM_SEEDS = 2**31  # gymnasium's reset seeds are taken below this
REFERENCE_BASE = 0


def episode_seed(seed: int, i: int) -> int:
    """Environment reset seed of data episode i."""
    return step_seed(seed, Stream.COLLECT, 0, i) % GYM_SEEDS


def policy_rng(seed: int, i: int) -> np.random.Generator:
    """The random generator of data episode i's policy."""
    return np.random.default_rng(step_seed(seed, Stream.COLLECT, 1, i))


def reference_seeds(episodes: int, exclude: Iterable[int]) -> list[tuple[int, int]]:
    """(environment seed, policy seed) of the reference episodes, none in `exclude`."""
    taken, out, j = set(exclude), [], 0
    while len(out) < episodes:
        env_seed = step_seed(REFERENCE_BASE, Stream.COLLECT, 2, j) % GYM_SEEDS
        if env_seed not in taken:
            out.append((env_seed, step_seed(REFERENCE_BASE, Stream.COLLECT, 3, j)))
        j += 1
    return out


def run_episode(env: gym.Env, policy: Policy, seed: int) -> float:
    """Reset with `seed`, act with `policy` until the episode ends; the undiscounted return."""
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        done = terminated or truncated
    return total


def mean_return(env_id: str, name: str, seeds: list[tuple[int, int]]) -> float:
    """Mean return of policy `name` over episodes with the given (environment, policy) seeds."""
    env = make_env(env_id)
    try:
        returns = [run_episode(env, make_policy(env_id, name, env, np.random.default_rng(p)), s)
                   for s, p in seeds]
    finally:
        env.close()
    return float(np.mean(returns))


def reference_scores(env_id: str, episodes: int, exclude: Iterable[int]) -> tuple[float, float]:
    """(ref_min_score, ref_max_score): mean returns of `random` and `expert` over `episodes`
    episodes each, on seeds outside `exclude`."""
    seeds = reference_seeds(episodes, exclude)
    return mean_return(env_id, "random", seeds), mean_return(env_id, "expert", seeds)
