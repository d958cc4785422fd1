"""Key/value cache for step-by-step decoding."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


class KVCache:
    """Preallocated keys and values, one (B, H, max_len, hd) buffer per layer.

    The backbone writes the new tokens' keys/values into every layer, then advances
    `length` once the whole forward pass is done.
    """

    def __init__(self, depth: int, batch: int, heads: int, head_dim: int, max_len: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        shape = (batch, heads, max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]
        self.key_mask: Optional[Tensor] = None  # (B, max_len) once any padding is seen
        self.max_len = max_len
        self.length = 0

    def reset(self) -> None:
        """Forget every cached token (buffers are reused)."""
        self.length = 0
        self.key_mask = None

    def room(self) -> int:
        """How many more tokens fit."""
        return self.max_len - self.length

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store new keys/values (B, H, n, hd) of one layer; return all keys/values so far."""
        n = k.shape[2]
        end = self.length + n
        if end > self.max_len:
            raise ValueError(f"KV cache full: {self.length} + {n} > max_len {self.max_len}")
        ks, vs = self.k[layer], self.v[layer]
        ks[:, :, self.length:end] = k
        vs[:, :, self.length:end] = v
        return ks[:, :, :end], vs[:, :, :end]

    def keys_mask(self, new_mask: Optional[Tensor], n: int) -> Optional[Tensor]:
        """Key padding mask over cached + new tokens, (B, length+n); None if nothing is padded."""
        if new_mask is None and self.key_mask is None:
            return None
        if self.key_mask is None:
            b = self.k[0].shape[0]
            self.key_mask = torch.ones(b, self.max_len, dtype=torch.bool, device=self.k[0].device)
        if new_mask is not None:
            self.key_mask[:, self.length:self.length + n] = new_mask
        else:
            self.key_mask[:, self.length:self.length + n] = True
        return self.key_mask[:, :self.length + n]
