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
    classes, take = class_shares(labels, held_out)
    picked = []
    for c, k in zip(classes.tolist(), take.tolist()):
        rows = (labels == c).nonzero().squeeze(1)
        picked.append(rows[torch.randperm(len(rows), generator=step_generator(seed, Stream.VAL_SPLIT, c))[:k]])
    out = torch.cat(picked).sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[out] = False
    return keep.nonzero().squeeze(1), out


def fraction_rows(labels: Tensor, fraction: float, seed: int = 0) -> Tensor:
    """Sorted row indices of a class-stratified `fraction` of `labels` (all rows at 1.0): the same
    labels, fraction and seed always give the same rows, and a class keeps its share."""
    n = len(labels)
    if not 0 < fraction <= 1:
        raise TzooError(f"train_fraction: must be in (0, 1], got {fraction}")
    if fraction == 1:
        return torch.arange(n)
    take = round(fraction * n)
    if take < 1:
        raise TzooError(f"train_fraction={fraction:g} of {n} training rows keeps none; raise it")
    if take >= n:
        return torch.arange(n)
    picked = []
    for c, k in zip(*(t.tolist() for t in class_shares(labels, take))):
        rows = (labels == c).nonzero().squeeze(1)
        picked.append(rows[torch.randperm(len(rows), generator=step_generator(seed, Stream.TRAIN_FRACTION, c))[:k]])
    return torch.cat(picked).sort().values


def class_shares(labels: Tensor, total: int) -> tuple[Tensor, Tensor]:
    """(classes, rows to take of each): `total` rows shared in proportion to each class's count
    (largest remainders)."""
    classes, counts = labels.unique(return_counts=True)
    exact = counts.double() * total / len(labels)
    take = exact.floor().long()
    order = torch.argsort(exact - take, descending=True, stable=True)
    take[order[: total - int(take.sum())]] += 1
    return classes, take
