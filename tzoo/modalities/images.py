"""Batches of decoded images for training (epoch permutations + augmentation) and evaluation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from ..progress import track
from .augment import crop_flip, crop_flip_params, mix, rand_augment
from .streams import Stream, step_generator, step_seed


@dataclass
class Augment:
    """What to do to a training batch.

    Attributes:
        crop_padding: zero padding before a random crop back to full size (0 = no crop).
        flip: random horizontal flips.
        randaugment: timm RandAugment config string, e.g. "rand-m9-mstd0.5" ("" = off).
        mixup_alpha, cutmix_alpha: timm Mixup / CutMix strengths (0 = off); they make soft targets.
    """

    crop_padding: int = 4
    flip: bool = True
    randaugment: str = ""
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    def validate(self) -> None:
        if self.crop_padding < 0 or self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ValueError("crop_padding: crop_padding, mixup_alpha and cutmix_alpha must be >= 0")
        if self.randaugment and not self.randaugment.startswith("rand"):
            raise ValueError(f"randaugment: expected a timm RandAugment string like rand-m9-mstd0.5, "
                             f"got {self.randaugment!r}")


class ImageBatches:
    """Training batches: a fresh permutation per epoch, batch `i` a pure function of (seed, i).

    All random parameters are drawn for the global batch (batch_size x processes) and each
    process takes its slice, so P processes see exactly what one process with P x the batch sees
    (Mixup/CutMix excepted: they pair images inside each process's slice).
    """

    unit = "images"

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, seed: int, augment: Augment,
                 num_classes: int, label_smoothing: float = 0.0) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.aug, self.num_classes = batch_size, seed, augment, num_classes
        self.smoothing = label_smoothing  # Mixup folds it into the soft targets it makes
        self._perms: dict[int, Tensor] = {}

    def _perm(self, epoch: int) -> Tensor:
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            self._perms[epoch] = torch.randperm(len(self.labels), generator=step_generator(self.seed, Stream.IMAGE_EPOCH, epoch))
        return self._perms[epoch]

    @property
    def epoch_size(self) -> int:
        """Training examples in one epoch."""
        return len(self.labels)

    def indices(self, index: int, world: int) -> Tensor:
        """Dataset rows of global batch `index`: consecutive slices of per-epoch permutations."""
        n, g = len(self.labels), self.batch_size * world
        pos = index * g + torch.arange(g)
        epochs, offsets = pos // n, pos % n
        out = torch.empty(g, dtype=torch.long)
        for e in epochs.unique().tolist():
            sel = epochs == e
            out[sel] = self._perm(e)[offsets[sel]]
        return out

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        g = step_generator(self.seed, Stream.IMAGE_CROP, index)
        mine = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        rows = self.indices(index, world)[mine]
        images, labels = self.images[rows], self.labels[rows]
        a = self.aug
        dx, dy, flips = crop_flip_params(self.batch_size * world, a.crop_padding, a.flip, g)
        if a.crop_padding or a.flip:
            images = crop_flip(images, a.crop_padding, dx[mine], dy[mine], flips[mine])
        if a.randaugment:
            first = rank * self.batch_size
            seeds = [step_seed(self.seed, Stream.IMAGE_RANDAUG, index, first + i) for i in range(len(rows))]
            images = rand_augment(images, a.randaugment, seeds)
        if a.mixup_alpha or a.cutmix_alpha:
            images, labels = mix(images, labels, self.num_classes, a.mixup_alpha, a.cutmix_alpha,
                                 self.smoothing, step_seed(self.seed, Stream.IMAGE_MIX, index, rank))
        return {"image": images, "targets": labels}

    def items(self, batch: dict[str, Tensor]) -> int:
        return batch["image"].shape[0]


def eval_batches(images: Tensor, labels: Tensor, batch_size: int, rank: int = 0,
                 world: int = 1) -> Iterator[dict[str, Tensor]]:
    """The split in order, batches dealt round-robin to processes. `labels` may be the leading part
    of the split `images` holds (only those rows are scored: no copy of `images` is made)."""
    n = len(labels)
    starts = list(range(0, n, batch_size))[rank::world]
    for s in track(starts, len(starts), "evaluate", "batch", enabled=rank == 0):
        yield {"image": images[s:min(s + batch_size, n)], "targets": labels[s:s + batch_size]}
