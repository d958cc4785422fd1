"""The shared backbone: one class, one weights layout, every modality."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .block import Block
from .cache import KVCache
from .masks import attention_mask
from .tokens import TokenSet


@dataclass
class BackboneConfig:
    """Shape of the shared transformer.

    Attributes:
        dim: width D of every token vector.
        depth: number of blocks.
        heads: attention heads (dim must be divisible by heads).
        mlp_ratio: MLP hidden width / dim.
        dropout: dropout on embeddings, attention and MLP.
        drop_path: stochastic-depth rate of the last block (linearly increasing from 0).
        bias: biases in linear layers and layer norms.
        max_positions: size of the learned position table (largest position index + 1);
            None lets the recipe size it to what its data needs (`with_positions`).
        num_types: size of the learned type (modality) table.
    """

    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    drop_path: float = 0.0
    bias: bool = False
    max_positions: Optional[int] = None
    num_types: int = 16

    def validate(self) -> None:
        """Raise ValueError('field: reason') for an impossible shape."""
        for name in ("dim", "depth", "heads", "max_positions", "num_types"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads:
            raise ValueError(f"heads: dim {self.dim} is not divisible by heads {self.heads}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio: must be > 0, got {self.mlp_ratio}")
        for name in ("dropout", "drop_path"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(self, name)}")

    def with_positions(self, needed: int) -> "BackboneConfig":
        """This config with max_positions set to `needed` if unset; error if set too small."""
        if self.max_positions is None:
            return replace(self, max_positions=needed)
        if self.max_positions < needed:
            raise ValueError(f"max_positions: {self.max_positions} is smaller than the {needed} "
                             "positions the data needs; raise it or leave it unset")
        return self


class Backbone(nn.Module):
    """Adds learned position and type embeddings to a TokenSet and runs pre-norm blocks.

    The attention pattern ("full", "causal", "prefix") is chosen per call; together with the
    set's padding mask it is the only thing that distinguishes encoder from decoder.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        cfg.validate()
        if cfg.max_positions is None:
            raise ValueError("max_positions: must be set before building (BackboneConfig.with_positions)")
        self.cfg = cfg
        self.pos_embed = nn.Embedding(cfg.max_positions, cfg.dim)
        self.type_embed = nn.Embedding(cfg.num_types, cfg.dim)
        rates = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout, r, cfg.bias) for r in rates
        )
        self.norm = nn.LayerNorm(cfg.dim, bias=cfg.bias)
        self.apply(init_weights)
        # Residual projections scaled down with depth so the residual stream starts small (GPT-2).
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.fc2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * cfg.depth))

    def embed(self, tokens: TokenSet) -> Tensor:
        """Content + position + type embeddings, (B, N, D)."""
        return tokens.embeds + self.pos_embed(tokens.positions) + self.type_embed(tokens.type_ids)

    def forward(self, tokens: TokenSet, pattern: str = "full", prefix_len: Optional[Tensor] = None,
                cache: Optional[KVCache] = None, rows: Optional[slice] = None) -> Tensor:
        """Run the blocks over a token set.

        Args:
            tokens: the set, embeds (B, N, D).
            pattern: "full", "causal" or "prefix".
            prefix_len: (B,) length of the bidirectional prefix for pattern "prefix".
            cache: KV cache holding earlier tokens of the same sequences; it is advanced by N.
            rows: read out only the tokens tokens[:, rows] (not with a cache). The last block then
                computes queries, attention output and MLP for those tokens alone (keys and values
                still for all): the same states as `forward(...)[:, rows]`, with less work when a
                task reads a few tokens (answer characters, the state tokens of a trajectory).

        Returns:
            normalized token states, (B, N, D), or (B, R, D) with `rows`.
        """
        if rows is not None and cache is not None:
            raise ValueError("rows: reading out a subset of tokens is not supported with a KV cache")
        b, n, _ = tokens.shape
        offset = cache.length if cache is not None else 0
        key_mask = cache.keys_mask(tokens.mask, n) if cache is not None else tokens.mask
        mask, is_causal = attention_mask(pattern, n, offset, key_mask, prefix_len, tokens.embeds.device)
        x = self.embed(tokens)  # (B, N, D)
        if self.cfg.dropout and self.training:
            x = F.dropout(x, self.cfg.dropout, True)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, mask, is_causal, cache, i, rows if i == last else None)
        if cache is not None:
            cache.length += n
        return self.norm(x)  # (B, N, D) or (B, R, D)

    def remember(self, memory: Tensor, mask: Optional[Tensor], cache: KVCache) -> None:
        """Encoder-decoder: store an encoder's final states `memory` (B, M, D) in `cache` as every
        block's first M keys and values (each through that block's norm and key/value projections).

        Tokens run afterwards with the "prefix" pattern and prefix_len M then attend, in every
        block, to all of the memory (cross-attention, as in the original transformer but with the
        block's own attention weights, so no parameter is added) and causally to each other.
        `mask` (B, M) marks real memory tokens (None: all real).
        """
        if cache.length:
            raise ValueError("remember() fills an empty cache")
        for i, block in enumerate(self.blocks):
            _, k, v = block.attn._qkv(block.norm1(memory))  # (B, H, M, hd)
            cache.update(i, k, v)
        cache.keys_mask(mask, memory.shape[1])
        cache.length += memory.shape[1]

    @torch.no_grad()
    def attention_maps(self, tokens: TokenSet, pattern: str = "full",
                       prefix_len: Optional[Tensor] = None) -> list[Tensor]:
        """Attention probabilities of every block, each (B, H, N, N); for inspection and plots."""
        b, n, _ = tokens.shape
        mask, is_causal = attention_mask(pattern, n, 0, tokens.mask, prefix_len, tokens.embeds.device)
        x = self.embed(tokens)
        maps = []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.norm1(x), mask, is_causal))
            x = block(x, mask, is_causal)
        return maps

    def new_cache(self, batch: int, max_len: Optional[int] = None) -> KVCache:
        """An empty KV cache on this backbone's device and dtype."""
        p = self.pos_embed.weight
        cfg = self.cfg
        return KVCache(cfg.depth, batch, cfg.heads, cfg.dim // cfg.heads,
                       max_len or cfg.max_positions, p.device, p.dtype)


def init_weights(module: nn.Module) -> None:
    """GPT-2 style init: N(0, 0.02) for linear and embedding weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)

