"""Deterministic randomness keyed by (seed, stream, index): resumable and identical across process counts.

Every consumer of randomness draws from its own named `Stream`, passed as the first key, so two
consumers never get the same seed by accident (say the trainer's (step 1, rank 0) and an image
loader's (epoch 1, batch 0)).
"""
from __future__ import annotations

from enum import IntEnum

import torch

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads nearby keys apart


class Stream(IntEnum):
    """One key per consumer of randomness; add new ones at the end (values are never reused)."""

    TRAIN_RNG = 1  # dropout / stochastic depth, per (step, rank)
    TEXT_WINDOWS = 2  # language-model training windows, per batch
    TEXT_PROBE = 3  # fixed windows of the periodic train/val loss estimate
    IMAGE_EPOCH = 4  # image order per epoch
    IMAGE_CROP = 5  # crop and flip per batch
    IMAGE_RANDAUG = 6  # RandAugment per image
    IMAGE_MIX = 7  # Mixup / CutMix per (batch, rank)
    EVAL_PROBE = 8  # the fixed subset scored by periodic evaluations
    CLIP_EPOCH = 9  # clip order per epoch
    CLIP_MIX = 10  # audio mixup per batch
    CLIP_AUGMENT = 11  # waveform augmentation per clip
    VAL_SPLIT = 12  # the validation subset carved from a training split
    TRAJECTORY = 13  # trajectory windows per batch
    COLLECT = 14  # environment seeds and policy noise while collecting data
    ROLLOUT = 15  # evaluation rollouts
    SAMPLE = 16  # sampling from a trained model
    PAIRING = 17  # pairing examples of several modalities
    MODALITY_DROP = 18  # modality dropout per batch
    TASKS = 19  # which task a multi-task micro-batch trains
    IMAGE_AFFINE = 20  # affine warps of training images per batch
    SELECT_ROLLOUT = 21  # validation rollouts that choose a control checkpoint
    CLIP_CROP = 22  # where a long training clip is cropped, per clip
    TRAIN_FRACTION = 23  # the part of a training split a run trains on (--data.train_fraction)


def step_seed(seed: int, stream: Stream, *keys: int) -> int:
    """A 63-bit seed derived from a base seed, a stream and integer keys (step, rank, ...)."""
    h = seed & 0xFFFFFFFFFFFFFFFF
    for k in (int(stream), *keys):
        h = ((h ^ (k + 1)) * _MIX) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def step_generator(seed: int, stream: Stream, *keys: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded from (seed, stream, *keys)."""
    g = torch.Generator(device=device)
    g.manual_seed(step_seed(seed, stream, *keys))
    return g
