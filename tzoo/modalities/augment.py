"""Augmentation of batched uint8 image tensors, driven by explicit random parameters.

Parameters (crop offsets, flips) are drawn for the whole global batch from a generator keyed
by the batch index, so results do not depend on how many processes share the batch.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def crop_flip(images: Tensor, pad: int, dx: Tensor, dy: Tensor, flip: Tensor) -> Tensor:
    """Random-crop after zero padding, then horizontal flip, for a batch at once.

    Args:
        images: (B, C, H, W).
        pad: zero padding on every side before cropping back to H x W.
        dx, dy: (B,) crop offsets in [0, 2*pad].
        flip: (B,) bool, flip left-right.
    """
    b, c, h, w = images.shape
    x = torch.nn.functional.pad(images, (pad, pad, pad, pad)) if pad else images
    j = torch.arange(w)
    rows = dy[:, None] + torch.arange(h)  # (B, H)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - j, j)  # (B, W), flipped crops read right to left
    bi = torch.arange(b)[:, None, None, None]
    ci = torch.arange(c)[None, :, None, None]
    return x[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def crop_flip_params(n: int, pad: int, flip: bool, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(dx, dy, flip) for n images."""
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flips = (torch.rand(n, generator=g) < 0.5) if flip else torch.zeros(n, dtype=torch.bool)
    return dx, dy, flips


@dataclass
class Affine:
    """Random affine warps of training images (the classic MNIST augmentation): each image is rotated,
    scaled, sheared and translated by amounts drawn uniformly in [-x, x]; all zero = off.

    Attributes:
        rotate: degrees.
        scale: fraction of the size (0.1: 0.9x to 1.1x).
        translate: pixels.
        shear: degrees.
    """

    rotate: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    shear: float = 0.0

    def validate(self) -> None:
        for name, top in (("rotate", 180.0), ("scale", 0.9), ("translate", 1e9), ("shear", 60.0)):
            value = getattr(self, name)
            if not 0.0 <= value <= top:
                raise ValueError(f"{name}: must be in [0, {top:g}], got {value}")

    def active(self) -> bool:
        return any((self.rotate, self.scale, self.translate, self.shear))


def affine_params(n: int, cfg: Affine, size: int, g: torch.Generator) -> Tensor:
    """(n, 2, 3) sampling matrices (output -> input, normalised coordinates) for `affine_warp` of
    size x size images."""
    u = lambda: torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1  # noqa: E731
    angle, scale, shear = u() * math.radians(cfg.rotate), 1 + u() * cfg.scale, u() * math.radians(cfg.shear)
    tx, ty = u() * cfg.translate * 2 / size, u() * cfg.translate * 2 / size
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos / scale, (torch.tan(shear) * cos - sin) / scale, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin / scale, cos / scale, ty
    return theta.float()


def affine_warp(images: Tensor, theta: Tensor) -> Tensor:
    """(B, C, H, W) uint8 images warped by theta (B, 2, 3) with bilinear sampling; uncovered
    pixels are 0 (MNIST's background)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, H, W, 2)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)  # (B, C, H, W)


@lru_cache(maxsize=8)
def _rand_augment_op(config: str, size: int, fill: tuple[int, int, int]):
    from timm.data import rand_augment_transform

    # timm's default translation is 250 pixels (meant for 224-pixel images); like timm's own
    # create_transform, scale it to the image: at most 45% of its side.
    return rand_augment_transform(config, {"translate_const": int(0.45 * size), "img_mean": fill})


def rand_augment(images: Tensor, config: str, seeds: list[int], fill: tuple[int, int, int] = (125, 123, 114)) -> Tensor:
    """timm's RandAugment (PIL ops) on each image of a (B, C, H, W) uint8 batch, image i seeded by seeds[i].

    `fill` is the colour of pixels that geometric ops uncover (default: CIFAR-10's mean).
    """
    from PIL import Image

    op = _rand_augment_op(config, min(images.shape[-2:]), fill)
    out = torch.empty_like(images)
    for i, seed in enumerate(seeds):
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        im = Image.fromarray(images[i].permute(1, 2, 0).numpy())
        out[i] = torch.from_numpy(np.array(op(im), dtype=np.uint8)).permute(2, 0, 1)
    return out


def mix(images: Tensor, labels: Tensor, num_classes: int, mixup_alpha: float, cutmix_alpha: float,
        smoothing: float, seed: int) -> tuple[Tensor, Tensor]:
    """timm's Mixup/CutMix on a batch: float images in [0, 1] and soft targets (B, num_classes)."""
    from timm.data import Mixup

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    mixer = Mixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, label_smoothing=smoothing,
                  num_classes=num_classes)
    x = images.float() / 255.0
    return mixer(x, labels)
