"""Validation splits carved from a training split: fixed, seeded and class-stratified."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import TzooError
from .streams import Stream, step_generator


def stratified_split(labels: Tensor, held_out: int, seed: int = 0, what: str = "validation") -> tuple[Tensor, Tensor]:
    """(kept, held-out) row indices, both sorted: `held_out` rows, each class in proportion to its
    share of `labels` (largest remainders), picked by a permutation seeded from (seed, class).

    The same labels, size and seed always give the same split, whatever else the run changes.
    """
    n = len(labels)
    if not 0 < held_out < n:
        raise TzooError(f"the {what} split needs between 1 and {n - 1} rows, got {held_out}")
    classes, counts = labels.unique(return_counts=True)
    exact = counts.double() * held_out / n
    take = exact.floor().long()
    order = torch.argsort(exact - take, descending=True, stable=True)
    take[order[: held_out - int(take.sum())]] += 1
    picked = []
    for c, k in zip(classes.tolist(), take.tolist()):
        rows = (labels == c).nonzero().squeeze(1)
        picked.append(rows[torch.randperm(len(rows), generator=step_generator(seed, Stream.VAL_SPLIT, c))[:k]])
    out = torch.cat(picked).sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[out] = False
    return keep.nonzero().squeeze(1), out
