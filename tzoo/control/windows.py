"""Decision Transformer training windows: a batch is a pure function of its index.

Batch `index` draws `batch_size * world` windows from (seed, Stream.TRAJECTORY, index) and each
process keeps its slice, so a resumed run sees the same data and the global batch does not
depend on the number of processes. Episodes are picked with probability proportional to their
length, starts uniformly within the episode; windows running past the end are right-padded.

Batch layout (other code relies on it):
    {"trajectory": {"returns":   (B, K) float32     return-to-go / return_scale,
                    "states":    (B, K, S) float32  (obs - mean) / std,
                    "actions":   (B, K, A) float32 for Box, (B, K) int64 for Discrete,
                    "timesteps": (B, K) int64       step index within the episode,
                    "mask":      (B, K) bool}}      True = real step
Padding positions hold zeros, timestep 0 and mask False.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..errors import TzooError
from ..modalities.streams import Stream, step_generator
from .episodes import Episodes, returns_to_go


class TrajectoryBatches:
    """Windows of K = `context` steps from `episodes`, as a training BatchSource."""

    unit = "steps"

    def __init__(self, episodes: Episodes, context: int, batch_size: int, seed: int,
                 state_mean: Any, state_std: Any, return_scale: float) -> None:
        if context < 1 or batch_size < 1:
            raise TzooError(f"context and batch size must be at least 1, got {context} and {batch_size}")
        if not return_scale > 0:
            raise TzooError(f"return_scale: must be positive, got {return_scale}")
        mean = np.asarray(state_mean, dtype=np.float32).reshape(-1)
        std = np.asarray(state_std, dtype=np.float32).reshape(-1)
        if mean.shape != (episodes.obs_dim,) or std.shape != (episodes.obs_dim,):
            raise TzooError(f"state_mean/state_std: need {episodes.obs_dim} values each, got {mean.size} and {std.size}")
        self.context, self.batch_size, self.seed = context, batch_size, seed
        self.discrete = episodes.action_space.discrete
        self.states = [((o - mean) / std).astype(np.float32) for o in episodes.observations]
        self.rtg = [(returns_to_go(r) / return_scale).astype(np.float32) for r in episodes.rewards]
        self.actions = episodes.actions
        self.lengths = episodes.lengths
        self.probs = torch.as_tensor(self.lengths / self.lengths.sum(), dtype=torch.float64)
        self.obs_dim, self.act_dim = episodes.obs_dim, episodes.action_space.dim

    @property
    def max_timestep(self) -> int:
        """The largest timestep a window can hold (longest episode - 1)."""
        return int(self.lengths.max()) - 1

    def _draw(self, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(episode, start) of the n windows of batch `index`."""
        g = step_generator(self.seed, Stream.TRAJECTORY, index)
        eps = torch.multinomial(self.probs, n, replacement=True, generator=g).numpy()
        u = torch.rand(n, generator=g, dtype=torch.float64).numpy()
        starts = np.minimum((u * self.lengths[eps]).astype(np.int64), self.lengths[eps] - 1)
        return eps, starts

    def _empty(self, b: int) -> dict[str, np.ndarray]:
        k = self.context
        actions = np.zeros((b, k), np.int64) if self.discrete else np.zeros((b, k, self.act_dim), np.float32)
        return {"returns": np.zeros((b, k), np.float32), "states": np.zeros((b, k, self.obs_dim), np.float32),
                "actions": actions, "timesteps": np.zeros((b, k), np.int64), "mask": np.zeros((b, k), bool)}

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Any]:
        """This process's share of global batch `index` (see the module docstring for the layout)."""
        eps, starts = self._draw(index, self.batch_size * world)
        lo = rank * self.batch_size
        return self.windows(eps[lo:lo + self.batch_size], starts[lo:lo + self.batch_size])

    def tiling(self, rank: int = 0, world: int = 1) -> Iterator[dict[str, Any]]:
        """Every step of every episode exactly once: windows starting at 0, K, 2K, ... of each episode,
        batched, dealt round-robin to processes (the whole-split evaluation)."""
        pairs = [(e, s) for e, n in enumerate(self.lengths.tolist()) for s in range(0, n, self.context)]
        chunks = [pairs[i:i + self.batch_size] for i in range(0, len(pairs), self.batch_size)]
        for chunk in chunks[rank::world]:
            eps, starts = zip(*chunk)
            yield self.windows(eps, starts)

    def windows(self, eps: Sequence[int], starts: Sequence[int]) -> dict[str, Any]:
        """One batch of the windows starting at step `starts[i]` of episode `eps[i]` (right-padded)."""
        out = self._empty(len(eps))
        for row, (e, s) in enumerate(zip(eps, starts)):
            n = min(self.context, int(self.lengths[e]) - int(s))
            out["returns"][row, :n] = self.rtg[e][s:s + n]
            out["states"][row, :n] = self.states[e][s:s + n]
            out["actions"][row, :n] = self.actions[e][s:s + n]
            out["timesteps"][row, :n] = np.arange(s, s + n)
            out["mask"][row, :n] = True
        return {"trajectory": {key: torch.from_numpy(value) for key, value in out.items()}}

    def items(self, batch: dict[str, Any]) -> int:
        """Real (unmasked) steps in a batch."""
        return int(batch["trajectory"]["mask"].sum())
