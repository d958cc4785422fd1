"""Helpers for the control-data tests: hand-made Minari datasets and folder listings."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def write_dataset(dataset_id: str, rewards: list[list[float]], obs_dim: int = 3) -> None:
    """A Box-observation, Discrete(2)-action dataset with the given per-episode rewards."""
    import gymnasium as gym
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = []
    for k, r in enumerate(rewards):
        t = len(r)
        obs = [np.full(obs_dim, k + i / 10, np.float32) for i in range(t + 1)]
        buffers.append(EpisodeBuffer(observations=obs, actions=[i % 2 for i in range(t)], rewards=list(r),
                                     terminations=[False] * (t - 1) + [True], truncations=[False] * t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
            action_space=gym.spaces.Discrete(2), algorithm_name="test", author="test", description="test")


def rows(root: Path) -> list[str]:
    """Every path under a folder, relative, sorted (hidden ones included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
