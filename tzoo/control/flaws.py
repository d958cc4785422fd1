"""Systematic flaws wrapped around a policy: biased behaviour, not just noise.

Each wrapper is a stateful callable `obs -> action`; make a fresh one per episode.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], Any]


class Delayed:
    """Acts on the observation from `lag` steps ago (the first observation until then)."""

    def __init__(self, base: Policy, lag: int) -> None:
        self.base, self.seen = base, deque(maxlen=lag + 1)

    def __call__(self, obs: np.ndarray) -> Any:
        self.seen.append(np.array(obs, copy=True))
        return self.base(self.seen[0])


class Stall:
    """Follows `base` for `after` steps, then gives up and repeats `idle` for the rest of the episode."""

    def __init__(self, base: Policy, after: int, idle: Any) -> None:
        self.base, self.after, self.idle, self.t = base, after, idle, 0

    def __call__(self, obs: np.ndarray) -> Any:
        self.t += 1
        return self.base(obs) if self.t <= self.after else self.idle


class Sticky:
    """Commits to each decision for `hold` steps: over-correcting (overshoot) for discrete actions."""

    def __init__(self, base: Policy, hold: int) -> None:
        self.base, self.hold, self.t, self.last = base, hold, 0, None

    def __call__(self, obs: np.ndarray) -> Any:
        if self.t % self.hold == 0:
            self.last = self.base(obs)
        self.t += 1
        return self.last


class Perceived:
    """Acts on a distorted view of the observation, scale * obs + offset: a misjudged position
    (offset: a preferred side) or exaggerated errors (scale > 1: over-correcting)."""

    def __init__(self, base: Policy, scale: Any = 1.0, offset: Any = 0.0) -> None:
        self.base = base
        self.scale = np.asarray(scale, dtype=np.float32)
        self.offset = np.asarray(offset, dtype=np.float32)

    def __call__(self, obs: np.ndarray) -> Any:
        return self.base(self.scale * np.asarray(obs, dtype=np.float32) + self.offset)


class Affine:
    """Continuous actions transformed as clip(scale * a + offset) to the action box: wrong gains, a
    preferred side (offset) or exaggeration (scale > 1)."""

    def __init__(self, base: Policy, space: gym.spaces.Box, scale: Any = 1.0, offset: Any = 0.0) -> None:
        self.base, self.space = base, space
        self.scale = np.asarray(scale, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        a = self.scale * np.asarray(self.base(obs), dtype=np.float64) + self.offset
        return np.clip(a, self.space.low, self.space.high).astype(self.space.dtype)


class Uniform:
    """Uniformly random actions drawn from `rng` (not the space's own generator: reproducible per episode)."""

    def __init__(self, space: gym.Space, rng: np.random.Generator) -> None:
        self.space, self.rng = space, rng

    def __call__(self, obs: np.ndarray) -> Any:
        if isinstance(self.space, gym.spaces.Discrete):
            return int(self.space.start + self.rng.integers(self.space.n))
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(self.space.dtype)


class Noisy:
    """Follows `base`, but takes `other`'s action (e.g. a random one) with probability `eps` each step:
    a weak policy that now and then reaches a good return by luck."""

    def __init__(self, base: Policy, other: Policy, rng: np.random.Generator, eps: float) -> None:
        self.base, self.other, self.rng, self.eps = base, other, rng, eps

    def __call__(self, obs: np.ndarray) -> Any:
        other = self.other(obs)  # drawn every step, so the random stream does not depend on the coin
        return other if self.rng.random() < self.eps else self.base(obs)
