"""Batches of variable-length clips: padded to the longest, with lengths, a pure function of the index.

Training batch i is a slice of epoch e's permutation (drawn from (seed, e)); augmentation draws from
(seed, i, rank). A resumed run therefore sees exactly the batches an uninterrupted one would have,
and P processes each take their share of the same global batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.transforms as AT
from torch import Tensor

from ..progress import track
from .streams import Stream, step_generator


def pad_batch(waves: Sequence[Tensor], length: int | None = None) -> tuple[Tensor, Tensor]:
    """Stack clips into (B, T) zero-padded to `length` (default: the longest), and their lengths (B,)."""
    lengths = torch.tensor([w.numel() for w in waves], dtype=torch.long)
    t = int(lengths.max()) if length is None else length
    out = torch.zeros(len(waves), t)
    for row, w in enumerate(waves):
        out[row, : w.numel()] = w
    return out, lengths


@lru_cache(maxsize=None)
def _resampler(new: int) -> AT.Resample:
    """A resampler from 100 to `new` Hz with its kernel built once (building it costs ~200x applying it)."""
    return AT.Resample(100, new)


@dataclass
class WaveAugment:
    """Waveform augmentation for training, drawn from an explicit generator.

    Attributes:
        speed: maximum relative speed change (0.1 = 0.9x to 1.1x, by resampling: tempo and pitch).
        shift: maximum leading silence inserted or samples cut, as a fraction of a second.
        noise_snr_db: Gaussian noise at a signal-to-noise ratio drawn from [this, this + 30] dB; 0 = off.
        mixup: Beta(a, a) parameter of mixup between clips of a batch (peak-normalised waveforms
            added, soft targets); 0 = off.
    """

    speed: float = 0.0
    shift: float = 0.0
    noise_snr_db: float = 0.0
    mixup: float = 0.0

    def validate(self) -> None:
        for name in ("speed", "shift", "noise_snr_db", "mixup"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.speed >= 0.5:
            raise ValueError(f"speed: must be < 0.5, got {self.speed}")

    def __call__(self, wave: Tensor, rate: int, g: torch.Generator) -> Tensor:
        u = torch.rand(3, generator=g).tolist()
        if self.speed > 0:
            factor = 1.0 + self.speed * (2 * u[0] - 1)
            # 100 -> new Hz on a 1% grid: played back at `rate`, the clip runs `factor` times faster.
            new = round(100 / factor)
            if new != 100:
                wave = _resampler(new)(wave)
        if self.shift > 0:
            n = round((2 * u[1] - 1) * self.shift * rate)
            wave = torch.cat([wave.new_zeros(n), wave]) if n > 0 else wave[min(-n, wave.numel() // 4):]
        if self.noise_snr_db > 0:
            snr = self.noise_snr_db + 30.0 * u[2]
            rms = wave.pow(2).mean().sqrt()
            wave = wave + torch.randn(wave.shape, generator=g) * rms * 10 ** (-snr / 20)
        return wave


class ClipBatches:
    """Shuffled training batches of clips: {"audio": {"wave": (B, T), "lengths": (B,)}, "targets": (B,)}.

    Args:
        waves: the training clips, each (T_i,).
        labels: (N,) class ids.
        batch_size: clips per process per micro-batch.
        seed: seeds the order and the augmentation.
        rate: sample rate (for augmentation).
        augment: waveform augmentation, or None.
        max_samples: clips are cut to this length after augmentation.
        num_classes: size of the soft targets mixup makes.
        crop: a clip longer than max_samples is cropped at a random place (drawn per clip and batch)
            before augmentation, instead of keeping its start.

    `waves` may be any sequence that decodes clip i on indexing (`modalities.decoded.Decoded`), so
    clips that do not fit in memory are read batch by batch.
    """

    unit = "clips"

    def __init__(self, waves: Sequence[Tensor], labels: Tensor, batch_size: int, seed: int, rate: int,
                 augment: WaveAugment | None, max_samples: int, num_classes: int = 10, crop: bool = False) -> None:
        self.waves = waves if hasattr(waves, "__getitem__") and hasattr(waves, "__len__") else list(waves)
        self.labels, self.batch_size, self.seed = labels, batch_size, seed
        self.rate, self.augment, self.max_samples, self.num_classes = rate, augment, max_samples, num_classes
        self.crop = crop

    @property
    def epoch_size(self) -> int:
        """Training clips in one epoch."""
        return len(self.waves)

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict:
        n, size = len(self.waves), self.batch_size * world
        per_epoch = max(n // size, 1)
        epoch, pos = divmod(index, per_epoch)
        order = torch.randperm(n, generator=step_generator(self.seed, Stream.CLIP_EPOCH, epoch))
        picked = order[(pos * size) % n:][:size]
        if picked.numel() < size:  # fewer clips than one global batch: wrap around
            picked = order.repeat(size // n + 1)[:size]
        clips = [self._clip(int(i), index, slot) for slot, i in enumerate(picked.tolist())]
        targets = self.labels[picked]
        if self.augment is not None and self.augment.mixup > 0:
            clips, targets = self._mix(clips, targets, index)
        longest = max(c.numel() for c in clips)  # pad to the global batch so every process pads alike
        mine = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        wave, lengths = pad_batch(clips[mine], longest)
        return {"audio": {"wave": wave, "lengths": lengths}, "targets": targets[mine]}

    def _mix(self, clips: list[Tensor], targets: Tensor, index: int) -> tuple[list[Tensor], Tensor]:
        """Mixup: clip i plus a partner, each at peak 1, weighted lam and 1 - lam; soft targets (B, C)."""
        g = step_generator(self.seed, Stream.CLIP_MIX, index)
        partner = torch.randperm(len(clips), generator=g).tolist()
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=g)))
        lam = torch.from_numpy(rng.beta(self.augment.mixup, self.augment.mixup, len(clips))).float()
        peak = [c.abs().max().clamp(min=1e-8) for c in clips]
        mixed = []
        for i, j in enumerate(partner):
            a, b = clips[i] / peak[i], clips[j] / peak[j]
            out = torch.zeros(max(a.numel(), b.numel()))
            out[: a.numel()] += lam[i] * a
            out[: b.numel()] += (1 - lam[i]) * b
            mixed.append(out)
        onehot = F.one_hot(targets, self.num_classes).float()
        return mixed, lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]

    def _clip(self, i: int, index: int, slot: int) -> Tensor:
        w = self.waves[i]
        if self.crop and w.numel() > self.max_samples:
            g = step_generator(self.seed, Stream.CLIP_CROP, index, slot)
            start = int(torch.randint(w.numel() - self.max_samples + 1, (1,), generator=g))
            w = w[start:start + self.max_samples]
        if self.augment is not None:
            w = self.augment(w, self.rate, step_generator(self.seed, Stream.CLIP_AUGMENT, index, slot))
        return w[: self.max_samples]

    def items(self, batch: dict) -> int:
        return int(batch["targets"].shape[0])


def eval_batches(waves: Sequence[Tensor], labels: Tensor, batch_size: int, rank: int = 0,
                 world: int = 1) -> Iterator[dict]:
    """Every clip once, dealt round-robin to processes, batched by similar length (less padding)."""
    mine = list(range(len(waves)))[rank::world]
    mine.sort(key=lambda i: waves[i].numel())
    starts = range(0, len(mine), batch_size)
    for s in track(starts, len(starts), "evaluate", "batch", enabled=rank == 0):
        ids = mine[s:s + batch_size]
        wave, lengths = pad_batch([waves[i] for i in ids])
        yield {"audio": {"wave": wave, "lengths": lengths}, "targets": labels[ids]}


def windows(length: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of the windows that cover a clip of `length` samples `size` at a time: one when
    it fits, else back to back with the last one ending at the clip's end (overlapping its neighbour)."""
    if length <= size:
        return [(0, length)]
    starts = list(range(0, length - size, size)) + [length - size]
    return [(s, s + size) for s in starts]


def windowed_batches(waves: Sequence[Tensor], size: int, batch_size: int, rows: Sequence[int]) -> Iterator[tuple[list[int], dict]]:
    """Windows of the clips at `rows`, batched: (owner row of each window, {"audio": {...}})."""
    pending: list[tuple[int, Tensor]] = []
    for r in rows:
        w = waves[r]
        pending += [(r, w[a:b]) for a, b in windows(w.numel(), size)]
        while len(pending) >= batch_size:
            chunk, pending = pending[:batch_size], pending[batch_size:]
            wave, lengths = pad_batch([x for _, x in chunk])
            yield [o for o, _ in chunk], {"audio": {"wave": wave, "lengths": lengths}}
    if pending:
        wave, lengths = pad_batch([x for _, x in pending])
        yield [o for o, _ in pending], {"audio": {"wave": wave, "lengths": lengths}}
