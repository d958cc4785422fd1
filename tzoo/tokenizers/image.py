"""Images -> patches -> tokens, one learned position per patch index."""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..backbone import TokenSet
from .conv_stem import ConvStem
from .types import IMAGE

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class ImageTokenizer(nn.Module):
    """Cut (B, C, H, W) images into p x p patches, project each to D: `stem="linear"` is a linear
    layer on the flattened patch (the same as timm's strided-convolution PatchEmbed);
    `stem="conv"` is a small convolution stack (ConvStem) giving one token per p x p cell.

    Positions are patch indices in row-major order; uint8 images are scaled to [0, 1] and
    normalised with `mean`/`std` here, so the data pipeline can stay in uint8.

    Patch dropout: in training, each image keeps a random `keep` fraction of its patches. Because
    every token carries its own position, the backbone needs no change, and fewer tokens make
    each step cheaper (evaluation always sees every patch).

    Args:
        patch_size: side p of a square patch; H and W must be multiples of it.
        dim: backbone width D.
        channels: image channels C.
        mean, std: per-channel normalisation of [0, 1] pixels.
        keep: fraction of patches kept per image in training (1.0 = all).
        stem: "linear" (patch-local projection) or "conv" (ConvStem, p a power of two).
        stem_channels: width of the conv stem's first convolution.
        pad: zero pixels added on every side before patching (e.g. 2 makes 28x28 digits 32x32,
            a size a power-of-two conv stem tiles); counted in raw pixel values, before `mean`/`std`.
    """

    type_id = IMAGE

    def __init__(self, patch_size: int, dim: int, channels: int = 3,
                 mean: Sequence[float] = CIFAR_MEAN, std: Sequence[float] = CIFAR_STD, keep: float = 1.0,
                 stem: Literal["linear", "conv"] = "linear", stem_channels: int = 32, pad: int = 0) -> None:
        super().__init__()
        if pad < 0:
            raise ValueError(f"pad: must be >= 0, got {pad}")
        self.pad = pad
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep: must be in (0, 1], got {keep}")
        self.patch_size = patch_size
        self.keep = keep
        if stem not in ("linear", "conv"):
            raise ValueError(f"stem: must be 'linear' or 'conv', got {stem!r}")
        self.stem = ConvStem(patch_size, stem_channels, channels, dim) if stem == "conv" else None
        self.proj = nn.Linear(channels * patch_size * patch_size, dim) if stem == "linear" else None
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        if self.proj is not None:
            nn.init.trunc_normal_(self.proj.weight, std=0.02)
            nn.init.zeros_(self.proj.bias)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Patches per column and per row for an image of this size (before padding)."""
        p = self.patch_size
        height, width = height + 2 * self.pad, width + 2 * self.pad
        if height % p or width % p:
            raise ValueError(f"image size {height}x{width} is not a multiple of patch size {p}")
        return height // p, width // p

    def normalize(self, images: Tensor) -> Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        return (x - self.mean) / self.std

    def embed(self, x: Tensor) -> Tensor:
        """Normalised (B, C, H, W) -> (B, N, D), one row per patch in row-major order."""
        if self.stem is not None:
            return rearrange(self.stem(x), "b d h w -> b (h w) d")
        p = self.patch_size
        return self.proj(rearrange(x, "b c (h p) (w q) -> b (h w) (p q c)", p=p, q=p))

    def forward(self, images: Tensor) -> TokenSet:
        # images: (B, C, H, W) -> embeds (B, N, D), N = (H/p)(W/p); patch dropout keeps k of N
        gh, gw = self.grid(images.shape[-2], images.shape[-1])
        if self.pad:
            images = F.pad(images, (self.pad,) * 4)  # (B, C, H + 2 pad, W + 2 pad), zero pixels
        embeds = self.embed(self.normalize(images))
        positions = torch.arange(gh * gw, device=images.device)
        if self.training and self.keep < 1.0:
            b, n, d = embeds.shape
            k = max(1, round(self.keep * n))
            kept = torch.rand(b, n, device=images.device).argsort(dim=1)[:, :k].sort(dim=1).values
            embeds = embeds.gather(1, kept[..., None].expand(-1, -1, d))  # (B, k, D)
            positions = kept  # (B, k): each token keeps the position of the patch it came from
        return TokenSet.of(embeds, self.type_id, positions)
