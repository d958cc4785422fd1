"""TokenSet: the one currency between tokenizers and the backbone.

A token set is a batch of N vectors per example plus, for each vector, the kind of
token it is (type id), where it sits in its own modality (position) and whether it is
real or padding. Conditioning on several sources is concatenation of their sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor


@dataclass
class TokenSet:
    """A batch of token sets.

    Attributes:
        embeds: content embeddings, (B, N, D).
        type_ids: modality / token kind per token, (B, N) long, or (1, N) when the whole batch shares them.
        positions: index of each token inside its modality, (B, N) or (1, N) long.
        mask: True for real tokens, False for padding, (B, N) bool; None means all real.

    Sharing (1, N) ids across the batch is not only shorter: the embedding lookups and their
    backward pass then touch N rows instead of B*N.
    """

    embeds: Tensor
    type_ids: Tensor
    positions: Tensor
    mask: Optional[Tensor] = None

    @property
    def shape(self) -> tuple[int, int, int]:
        b, n, d = self.embeds.shape
        return b, n, d

    @staticmethod
    def of(embeds: Tensor, type_id: int, positions: Tensor, mask: Optional[Tensor] = None) -> "TokenSet":
        """Build a set whose tokens share one type id; `positions` is (N,), (1, N) or (B, N)."""
        n = embeds.shape[1]
        positions = positions.to(embeds.device).long()
        positions = positions.view(1, n) if positions.dim() == 1 else positions
        type_ids = torch.full((1, n), type_id, dtype=torch.long, device=embeds.device)
        return TokenSet(embeds, type_ids, positions, mask)

    def batched(self, name: str) -> Tensor:
        """`type_ids` or `positions` expanded to (B, N)."""
        b, n, _ = self.embeds.shape
        return getattr(self, name).expand(b, n)

    def full_mask(self) -> Tensor:
        """The padding mask, materialised as (B, N) bool."""
        if self.mask is not None:
            return self.mask
        b, n, _ = self.embeds.shape
        return torch.ones(b, n, dtype=torch.bool, device=self.embeds.device)

    def slice(self, start: int, end: int) -> "TokenSet":
        """Tokens start .. end-1 of every example."""
        cut = lambda t: t[:, start:end]  # noqa: E731
        return TokenSet(cut(self.embeds), cut(self.type_ids), cut(self.positions),
                        None if self.mask is None else cut(self.mask))

    @staticmethod
    def cat(sets: Sequence["TokenSet"]) -> tuple["TokenSet", list[tuple[int, int]]]:
        """Concatenate sets along N; returns the joint set and the (start, end) span of each part."""
        spans, start = [], 0
        for s in sets:
            spans.append((start, start + s.embeds.shape[1]))
            start += s.embeds.shape[1]
        mask = None
        if any(s.mask is not None for s in sets):
            mask = torch.cat([s.full_mask() for s in sets], dim=1)
        shared = all(s.type_ids.shape[0] == 1 and s.positions.shape[0] == 1 for s in sets)
        ids = (lambda s, name: getattr(s, name)) if shared else (lambda s, name: s.batched(name))
        joint = TokenSet(
            embeds=torch.cat([s.embeds for s in sets], dim=1),
            type_ids=torch.cat([ids(s, "type_ids") for s in sets], dim=1),
            positions=torch.cat([ids(s, "positions") for s in sets], dim=1),
            mask=mask,
        )
        return joint, spans

    @staticmethod
    def interleave(sets: Sequence["TokenSet"]) -> "TokenSet":
        """Interleave K sets of equal length T into one of length K*T: a1 b1 c1 a2 b2 c2 ...

        Used for trajectories, where return, state and action of step t sit side by side.
        """
        n = sets[0].embeds.shape[1]
        if any(s.embeds.shape[1] != n for s in sets):
            raise ValueError("interleave needs sets of equal length")

        def weave(parts: list[Tensor]) -> Tensor:
            stacked = torch.stack(parts, dim=2)  # (B, T, K, ...)
            return stacked.flatten(1, 2)  # (B, T*K, ...)

        mask = None
        if any(s.mask is not None for s in sets):
            mask = weave([s.full_mask() for s in sets])
        return TokenSet(
            embeds=weave([s.embeds for s in sets]),
            type_ids=weave([s.batched("type_ids") for s in sets]),
            positions=weave([s.batched("positions") for s in sets]),
            mask=mask,
        )


def split(x: Tensor, spans: Sequence[tuple[int, int]]) -> list[Tensor]:
    """Split backbone output (B, N, D) back into the parts given by `TokenSet.cat` spans."""
    return [x[:, a:b] for a, b in spans]
