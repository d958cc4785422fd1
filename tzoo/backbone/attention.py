"""Multi-head self-attention on `F.scaled_dot_product_attention`, with an optional KV cache."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cache import KVCache


class SelfAttention(nn.Module):
    """Self-attention over a token set.

    Args:
        dim: model width D.
        heads: number of heads; D must be divisible by it.
        dropout: attention-probability and output dropout.
        bias: bias in the qkv and output projections.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def _heads(self, t: Tensor) -> Tensor:
        """(B, N, D) -> (B, H, N, D/H)."""
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = self.qkv(x).split(x.shape[-1], dim=2)  # each (B, N, D)
        return self._heads(q), self._heads(k), self._heads(v)  # each (B, H, N, hd)

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, is_causal: bool = False,
                cache: Optional[KVCache] = None, layer: int = 0, rows: Optional[slice] = None) -> Tensor:
        """Attention output of every token, (B, N, D); with `rows` (no cache) only of tokens x[:, rows],
        (B, R, D), which still attend to all keys: their queries alone are projected and attended."""
        if rows is not None:
            return self._rows(x, rows, attn_mask, is_causal)
        b, n, d = x.shape  # (B, N, D)
        q, k, v = self._qkv(x)  # (B, H, N, hd)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, H, L+N, hd)
        return self._out(attend(q, k, v, attn_mask, self._p(), is_causal))

    def _p(self) -> float:
        return self.dropout if self.training else 0.0

    def _out(self, y: Tensor) -> Tensor:
        """Heads (B, H, R, hd) -> output projection (and dropout), (B, R, D)."""
        b, _, r, _ = y.shape
        y = self.proj(y.transpose(1, 2).reshape(b, r, -1))  # (B, R, D)
        return F.dropout(y, self.dropout, self.training) if self._p() else y

    def _rows(self, x: Tensor, rows: slice, attn_mask: Optional[Tensor], is_causal: bool) -> Tensor:
        n, d = x.shape[1:]  # x: (B, N, D)
        w, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, rows], w[:d], None if bias is None else bias[:d])  # (B, R, D)
        k, v = F.linear(x, w[d:], None if bias is None else bias[d:]).split(d, dim=2)  # each (B, N, D)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (B, H, R or N, hd)
        if attn_mask is not None:
            attn_mask = attn_mask[:, :, rows]  # (B or 1, 1, R, N)
        elif is_causal:
            at = torch.arange(n, device=x.device)
            attn_mask = (at[None, :] <= at[rows][:, None])[None, None]  # (1, 1, R, N)
        return self._out(attend(q, k, v, attn_mask, self._p(), False))

    def attention_weights(self, x: Tensor, attn_mask: Optional[Tensor] = None,
                          is_causal: bool = False) -> Tensor:
        """The softmax attention probabilities SDPA computes internally, (B, H, N, N); for plots."""
        q, k, _ = self._qkv(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, N, N)
        if is_causal:
            n = x.shape[1]
            attn_mask = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        return scores.softmax(dim=-1)


def attend(q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[Tensor] = None, dropout_p: float = 0.0,
           is_causal: bool = False) -> Tensor:
    """`F.scaled_dot_product_attention`, except on CPU under autocast, where it runs in float32.

    PyTorch's CPU flash-attention kernel is far slower in bf16 than in float32, backward above all
    (a 4-block, 128-wide model on ~100 tokens: 0.59 s a training step under bf16 autocast with bf16
    attention, 0.37 s with float32 attention, 0.57 s all float32; one thread of this machine), so
    under CPU autocast the matrix products of the projections and MLPs run in bf16 and attention
    itself in float32 (also the more accurate choice for the softmax).
    """
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask,
                                                  dropout_p=dropout_p, is_causal=is_causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)
