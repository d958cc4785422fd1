"""Pre-norm transformer block: communicate (attention), then compute (MLP)."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from timm.layers import DropPath
from torch import Tensor, nn

from .attention import SelfAttention
from .cache import KVCache


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, with dropout on the output.

    Args:
        dim: input and output width D.
        hidden: hidden width.
        dropout: output dropout (training only).
        bias: biases in both linear layers.
    """

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc2(F.gelu(self.fc1(x)))  # (B, N, D)
        # Skipping the call when p == 0 matters for one-token decoding, where per-op overhead dominates.
        return F.dropout(x, self.dropout, self.training) if self.dropout else x


class Block(nn.Module):
    """x + attn(norm(x)), then x + mlp(norm(x)), with optional stochastic depth.

    Args:
        dim: model width D.
        heads: attention heads.
        mlp_ratio: MLP hidden width as a multiple of D.
        dropout: dropout inside attention and MLP.
        drop_path: probability of skipping this block's residual branches (training only).
        bias: biases in linear layers and norms.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 drop_path: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.attn = SelfAttention(dim, heads, dropout, bias)
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout, bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else None

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, is_causal: bool = False,
                cache: Optional[KVCache] = None, layer: int = 0, rows: Optional[slice] = None) -> Tensor:
        """New states of every token, (B, N, D); with `rows` only of x[:, rows], (B, R, D)."""
        # x: (B, N, D)
        a = self.attn(self.norm1(x), attn_mask, is_causal, cache, layer, rows)  # (B, N or R, D)
        if self.drop_path is not None:
            a = self.drop_path(a)
        x = (x if rows is None else x[:, rows]) + a
        m = self.mlp(self.norm2(x))
        if self.drop_path is not None:
            m = self.drop_path(m)
        return x + m  # (B, N, D)
