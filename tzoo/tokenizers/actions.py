"""ActionSpec: the shape of an environment's actions, as much as the model (the trajectory tokenizer and the
action head) needs and JSON can hold. It lives with the tokenizers so they need nothing from the data side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class ActionSpec:
    """Discrete actions 0..n-1, or continuous vectors of `dim` values inside [low, high].

    Attributes:
        discrete: True for a `Discrete(n)` space, False for a 1-D `Box`.
        n: number of actions (discrete only, else 0).
        dim: action width A (continuous only, else 0).
        low: per-dimension lower bounds, finite (continuous only).
        high: per-dimension upper bounds, finite and > low (continuous only).
        start: the environment's id of action 0 (gymnasium `Discrete.start`); the model always
            works with 0..n-1 and adds `start` only when stepping the environment.
    """

    discrete: bool
    n: int = 0
    dim: int = 0
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    start: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", tuple(float(x) for x in self.low))
        object.__setattr__(self, "high", tuple(float(x) for x in self.high))
        if self.discrete:
            if self.n < 1 or self.dim or self.low or self.high:
                raise ValueError(f"discrete ActionSpec needs n >= 1 and no dim/bounds, got {self}")
            return
        if self.dim < 1 or self.n or self.start:
            raise ValueError(f"continuous ActionSpec needs dim >= 1, n = 0 and start = 0, got {self}")
        if len(self.low) != self.dim or len(self.high) != self.dim:
            raise ValueError(f"low/high must have dim={self.dim} values, got {len(self.low)}/{len(self.high)}")
        for lo, hi in zip(self.low, self.high):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"action bounds must be finite with low < high, got [{lo}, {hi}]")

    @classmethod
    def discrete_of(cls, n: int, start: int = 0) -> "ActionSpec":
        """n discrete actions (environment ids start .. start+n-1)."""
        return cls(True, n=n, start=start)

    @classmethod
    def box(cls, low: Sequence[float], high: Sequence[float]) -> "ActionSpec":
        """Continuous actions inside [low, high] per dimension."""
        return cls(False, dim=len(low), low=tuple(low), high=tuple(high))

    @classmethod
    def from_space(cls, space: Any) -> "ActionSpec":
        """From a gymnasium `Discrete` or 1-D bounded `Box` action space."""
        from gymnasium import spaces

        if isinstance(space, spaces.Discrete):
            return cls.discrete_of(int(space.n), int(space.start))
        if isinstance(space, spaces.Box) and len(space.shape) == 1:
            return cls.box(np.asarray(space.low).tolist(), np.asarray(space.high).tolist())
        raise ValueError(f"unsupported action space {space}; use Discrete or a 1-D Box")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists, not tuples)."""
        if self.discrete:
            return {"discrete": True, "n": self.n, "start": self.start}
        return {"discrete": False, "dim": self.dim, "low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ActionSpec":
        """Inverse of `to_dict`."""
        if data["discrete"]:
            return cls.discrete_of(int(data["n"]), int(data.get("start", 0)))
        return cls.box(data["low"], data["high"])
