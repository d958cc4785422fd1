"""Minari datasets as per-episode arrays for training: load, check, summarise, filter.

Minari stores T + 1 observations per episode (the last one follows the final action); the
arrays here keep the T that actions were taken on, so observations, actions and rewards align.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import gymnasium as gym
import minari
import numpy as np

from ..errors import TzooError
from ..tokenizers.actions import ActionSpec
from .envs import missing_extra

FETCH_HINT = "create it with `tzoo collect ENV --out ID` or fetch it with `minari download ID`"


@dataclass
class Episodes:
    """Per-episode arrays of one dataset (episode k has T_k >= 1 steps).

    observations: (T, S) float32; actions: (T, A) float32 (Box) or (T,) int64 (Discrete);
    rewards: (T,) float32; returns: (N,) float64 undiscounted return of each episode;
    ids: the Minari episode ids.
    """

    observations: list[np.ndarray]
    actions: list[np.ndarray]
    rewards: list[np.ndarray]
    returns: np.ndarray
    ids: list[int]
    action_space: ActionSpec
    obs_dim: int
    dataset_id: str
    env_spec: Optional[str] = None  # gymnasium EnvSpec JSON of the collecting environment
    ref_min_score: Optional[float] = None
    ref_max_score: Optional[float] = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int64 number of steps of each episode."""
        return np.array([len(r) for r in self.rewards], dtype=np.int64)

    def select(self, indices: Sequence[int]) -> "Episodes":
        """The episodes at `indices` (positions in this object), in that order."""
        idx = [int(i) for i in indices]
        return replace(self, observations=[self.observations[i] for i in idx],
                       actions=[self.actions[i] for i in idx], rewards=[self.rewards[i] for i in idx],
                       returns=self.returns[idx], ids=[self.ids[i] for i in idx])


def open_dataset(dataset_id: str) -> minari.MinariDataset:
    """A local Minari dataset, or a one-line error listing the local ids."""
    try:
        return minari.load_dataset(dataset_id)
    except FileNotFoundError:
        local = ", ".join(minari.list_local_datasets()) or "none"
        raise TzooError(f"{dataset_id}: Minari dataset not found locally (local datasets: {local}); "
                        f"{FETCH_HINT}") from None
    except (ValueError, OSError) as e:
        raise TzooError(f"{dataset_id}: cannot open the Minari dataset ({e}); {FETCH_HINT}") from None


def action_info(space: gym.Space, dataset_id: str) -> ActionSpec:
    """ActionSpec of a Discrete or bounded 1-D Box space; other spaces are an error."""
    try:
        return ActionSpec.from_space(space)
    except ValueError as e:
        raise TzooError(f"{dataset_id}: action space {space} is not supported ({e}); use a dataset with "
                        "Discrete or bounded Box actions") from None


def _obs_dim(space: gym.Space, dataset_id: str) -> int:
    if not isinstance(space, gym.spaces.Box):
        raise TzooError(f"{dataset_id}: observation space {space} is not supported; use a dataset with Box observations")
    return int(np.prod(space.shape))


def _finite(values: np.ndarray, what: str, dataset_id: str, episode: int) -> None:
    if not np.all(np.isfinite(values)):
        raise TzooError(f"{dataset_id}: episode {episode} has NaN or inf in its {what}; "
                        "recollect the dataset or filter that episode out")


def _episode(ep: Any, info: ActionSpec, obs_dim: int, dataset_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observations, actions, rewards) of one EpisodeData, checked."""
    steps = len(ep.rewards)
    if steps == 0:
        raise TzooError(f"{dataset_id}: episode {ep.id} has no steps; recollect the dataset or filter that episode out")
    obs = np.asarray(ep.observations, dtype=np.float32).reshape(-1, obs_dim)[:steps]
    rewards = np.asarray(ep.rewards, dtype=np.float32).reshape(steps)
    if info.discrete:
        actions = np.asarray(ep.actions).astype(np.int64).reshape(steps) - info.start
        if actions.min() < 0 or actions.max() >= info.n:
            raise TzooError(f"{dataset_id}: episode {ep.id} has actions outside its Discrete({info.n}) space; "
                            "recollect the dataset")
    else:
        actions = np.asarray(ep.actions, dtype=np.float32).reshape(steps, info.dim)
        _finite(actions, "actions", dataset_id, ep.id)
    _finite(obs, "observations", dataset_id, ep.id)
    _finite(rewards, "rewards", dataset_id, ep.id)
    return obs, actions, rewards


def load_episodes(dataset: minari.MinariDataset | str) -> Episodes:
    """All episodes of a Minari dataset (or dataset id) as checked per-episode arrays."""
    if isinstance(dataset, str):
        dataset = open_dataset(dataset)
    meta = dataset.storage.metadata
    dataset_id = dataset.id
    info = action_info(dataset.action_space, dataset_id)
    obs_dim = _obs_dim(dataset.observation_space, dataset_id)
    observations, actions, rewards, ids = [], [], [], []
    for ep in dataset.iterate_episodes():
        o, a, r = _episode(ep, info, obs_dim, dataset_id)
        observations.append(o)
        actions.append(a)
        rewards.append(r)
        ids.append(int(ep.id))
    if not rewards:
        raise TzooError(f"{dataset_id}: has no episodes; {FETCH_HINT}")
    returns = np.array([float(np.sum(r, dtype=np.float64)) for r in rewards])
    return Episodes(observations, actions, rewards, returns, ids, info, obs_dim, dataset_id,
                    env_spec=meta.get("env_spec"), ref_min_score=_score(meta, "ref_min_score"),
                    ref_max_score=_score(meta, "ref_max_score"))


def _score(meta: dict, key: str) -> Optional[float]:
    value = meta.get(key)
    return None if value is None else float(value)


def returns_to_go(rewards: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """R_t = sum_{k >= t} gamma^(k - t) r_k, same shape and dtype as `rewards` (float64 sums)."""
    r = np.asarray(rewards)
    dtype = r.dtype if r.dtype.kind == "f" else np.float64
    r = r.astype(np.float64)
    if gamma == 1.0:
        return np.cumsum(r[::-1])[::-1].astype(dtype)
    out, acc = np.empty_like(r), 0.0
    for t in range(len(r) - 1, -1, -1):
        acc = r[t] + gamma * acc
        out[t] = acc
    return out.astype(dtype)


def state_stats(episodes: Episodes) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) float32 over every step of every episode; std floored at 1e-6."""
    obs = np.concatenate(episodes.observations).astype(np.float64)
    return obs.mean(0).astype(np.float32), np.maximum(obs.std(0), 1e-6).astype(np.float32)


def top_fraction(episodes: Episodes, pct: float) -> Episodes:
    """The best `pct` of the episodes by return (at least one), in their original order."""
    if not 0.0 < pct <= 1.0:
        raise TzooError(f"--data.top_pct: must be in (0, 1], got {pct}")
    keep = max(1, int(round(pct * len(episodes))))
    best = np.argsort(-episodes.returns, kind="stable")[:keep]
    return episodes.select(sorted(best.tolist()))


def recover_env(dataset: minari.MinariDataset, eval_env: bool = False) -> gym.Env:
    """The dataset's environment (`eval_env`: its evaluation environment), or a one-line error
    naming the pip extra it needs."""
    spec = dataset.env_spec
    env_id = spec.id if spec is not None else dataset.id
    try:
        return dataset.recover_environment(eval_env=eval_env)
    except (gym.error.DependencyNotInstalled, ImportError) as e:
        raise missing_extra(env_id, e) from None
    except (gym.error.Error, ValueError) as e:
        raise TzooError(f"{dataset.id}: cannot recover its environment {env_id} ({e}); "
                        "check the dataset's env_spec and installed packages") from None
