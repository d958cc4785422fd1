"""Attention patterns: the mask alone makes the backbone an encoder, a decoder or a prefix decoder.

Convention everywhere: True = real token / may attend. Every query may always attend to
itself, so a query whose other keys are all masked (padding) never produces NaN.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

PATTERNS: tuple[str, ...] = ("full", "causal", "prefix")


def attention_mask(
    pattern: str,
    q_len: int,
    offset: int = 0,
    key_mask: Optional[Tensor] = None,
    prefix_len: Optional[Tensor] = None,
    device: Optional[torch.device] = None,
) -> tuple[Optional[Tensor], bool]:
    """Mask arguments for `F.scaled_dot_product_attention`.

    Args:
        pattern: "full" (encoder), "causal" (decoder) or "prefix" (bidirectional over the
            first `prefix_len` tokens, causal after them).
        q_len: number of queries; they sit at absolute indices offset .. offset+q_len-1.
        offset: tokens already in the KV cache before these queries.
        key_mask: (B, offset+q_len) bool, True = real key; None = no padding.
        prefix_len: (B,) long, only for "prefix".

    Returns:
        (attn_mask, is_causal): a (B, 1, q_len, k_len) bool mask or None, and whether SDPA's
        built-in causal mask should be used instead (the fast path).
    """
    if pattern not in PATTERNS:
        raise ValueError(f"unknown attention pattern {pattern!r}; expected one of {PATTERNS}")
    if pattern == "prefix" and prefix_len is None:
        raise ValueError("pattern 'prefix' needs prefix_len")
    k_len = offset + q_len
    if key_mask is None:
        if pattern == "full":
            return None, False
        if pattern == "causal" and offset == 0:
            return None, True
        if pattern == "causal" and q_len == 1:
            return None, False  # one new query sees every cached key
    if key_mask is not None:
        device = key_mask.device
    q_idx = torch.arange(offset, k_len, device=device)[:, None]  # (Tq, 1)
    k_idx = torch.arange(k_len, device=device)[None, :]  # (1, Tk)
    if pattern == "full":
        allowed = torch.ones(1, q_len, k_len, dtype=torch.bool, device=device)
    else:
        allowed = (k_idx <= q_idx)[None]  # (1, Tq, Tk)
        if pattern == "prefix":
            in_prefix = k_idx[None] < prefix_len.to(device).view(-1, 1, 1)  # (B, 1, Tk)
            allowed = allowed | in_prefix
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, :].bool()
    allowed = allowed | (k_idx == q_idx)[None]  # every token sees itself
    return allowed[:, None], False  # (B or 1, 1, Tq, Tk)
