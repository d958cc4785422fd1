"""Deterministic randomness keyed by (seed, index): resumable and identical across process counts."""
from __future__ import annotations

import torch

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads nearby keys apart


def step_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed derived from a base seed and integer keys (step, rank, ...)."""
    h = seed & 0xFFFFFFFFFFFFFFFF
    for k in keys:
        h = ((h ^ (k + 1)) * _MIX) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def step_generator(seed: int, *keys: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded from (seed, *keys)."""
    g = torch.Generator(device=device)
    g.manual_seed(step_seed(seed, *keys))
    return g
