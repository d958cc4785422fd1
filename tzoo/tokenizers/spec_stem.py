"""Convolutional stem over a whole log-mel spectrogram: one token per slice of K frames."""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .conv_stem import ChannelLayerNorm


class SpectrogramStem(nn.Module):
    """(log-mel (B, V, M, T), frame mask (B, T)) -> slice tokens (B, T / K, D).

    Three stages (C, 2C, 2C channels) over bands and frames of the whole clip, each of `depth`
    3x3 convolutions followed by a LayerNorm over channels and GELU, then 2x max pooling along the
    bands; the first log2(K) stages also pool 2x along time, so each output step is one slice of K
    frames. A linear layer maps the remaining (2C x M/8) values of a step to its token.

    Unlike a per-slice projection, a token also sees a rim of neighbouring frames (for K = 4, 7
    on each side with depth 1, 14 with depth 2), so a sound that straddles a slice border is seen
    whole. The weights are shared along the bands, and pooling absorbs small shifts (another
    speaker's formants).
    Padded frames are set to zero after every layer, so a clip's tokens never depend on how much
    padding follows it; T must be a multiple of K.

    Args:
        versions: V, input channels (the log-mel normalised one or two ways).
        n_mels: bands M (>= 8).
        frames: frames per token K, a power of two <= 8.
        channels: C, width of the first convolution.
        dim: output width D.
        depth: convolutions per stage (the first changes the width, the others keep it).
    """

    def __init__(self, versions: int, n_mels: int, frames: int, channels: int, dim: int, depth: int = 1) -> None:
        super().__init__()
        steps = int(math.log2(frames))
        if 2 ** steps != frames or steps > 3:
            raise ValueError(f"frames_per_token: the stem needs 1, 2, 4 or 8, got {frames}")
        if depth < 1:
            raise ValueError(f"conv_depth: must be >= 1, got {depth}")
        stages = (channels, 2 * channels, 2 * channels)
        widths = [versions] + [w for w in stages for _ in range(depth)]  # conv j maps widths[j] -> widths[j + 1]
        self.depth, self.time_pools = depth, [2 if i < steps else 1 for i in range(3)]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(ChannelLayerNorm(b) for b in widths[1:])
        self.out = nn.Linear(widths[-1] * (n_mels // 8), dim)

    def forward(self, x: Tensor, frame_mask: Tensor) -> Tensor:
        # x: (B, V, M, T), frame_mask: (B, T) with T a multiple of K
        m = frame_mask[:, None, None, :].to(x.dtype)  # (B, 1, 1, T)
        for i, tp in enumerate(self.time_pools):
            for j in range(i * self.depth, (i + 1) * self.depth):
                x = F.gelu(self.norms[j](self.convs[j](x))) * m  # (B, C_i, M_i, T_i), LayerNorm over C_i
            x = F.max_pool2d(x, (2, tp))  # (B, C_i, M_i / 2, T_i / tp)
            m = F.max_pool2d(m, (1, tp))
        return self.out(x.permute(0, 3, 1, 2).flatten(2))  # (B, T / K, D)
