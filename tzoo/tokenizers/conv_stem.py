"""A convolutional stem: images -> one D vector per p x p cell, from overlapping 3x3 convolutions."""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each position of a (B, C, H, W) map (no batch statistics)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, H, W)


class ConvStem(nn.Module):
    """log2(p) stride-2 3x3 convolutions (C, 2C, 4C, ... channels, each followed by a LayerNorm
    over channels and GELU), then a 1x1 convolution to D: the "early convolutions" ViT stem.

    Each output cell covers one p x p patch plus a rim of neighbouring pixels, so small shapes
    that straddle a patch border are still seen whole, and a token depends on nothing farther.
    Normalisation is per pixel (no batch statistics), so results do not depend on batch size or
    the number of processes.

    Args:
        patch_size: p, a power of two: the stem halves the resolution log2(p) times.
        channels: C, width of the first convolution.
        in_channels: image channels.
        dim: output width D.
    """

    def __init__(self, patch_size: int, channels: int, in_channels: int, dim: int) -> None:
        super().__init__()
        steps = int(math.log2(patch_size)) if patch_size > 1 else 0
        if patch_size < 2 or 2 ** steps != patch_size:
            raise ValueError(f"patch_size: a convolutional stem needs a power of two >= 2, got {patch_size}")
        widths = [in_channels] + [channels * 2 ** i for i in range(steps)]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1, bias=False)
                                   for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(ChannelLayerNorm(b) for b in widths[1:])
        self.out = nn.Conv2d(widths[-1], dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, C_in, H, W) -> (B, D, H/p, W/p)
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)  # (B, C_i, H/2^i, W/2^i)
            x = F.gelu(norm(x))  # LayerNorm over C_i
        return self.out(x)
