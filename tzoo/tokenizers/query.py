"""Learned query tokens (a CLS token, registers): the same vectors for every example."""
from __future__ import annotations

import torch
from torch import nn

from ..backbone import TokenSet
from .types import QUERY


class QueryTokenizer(nn.Module):
    """`num` learned tokens, positions 0..num-1, the query type id.

    It reads no data: `TzooModel` calls it with the batch size and device (`needs_input = False`).

    Args:
        num: number of query tokens (1 = a CLS token; more = CLS + registers).
        dim: backbone width D.
    """

    type_id = QUERY
    needs_input = False

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.zeros(num, dim))
        nn.init.trunc_normal_(self.tokens, std=0.02)

    def forward(self, batch_size: int, device: torch.device) -> TokenSet:
        embeds = self.tokens.unsqueeze(0).expand(batch_size, -1, -1)  # (B, Q, D)
        positions = torch.arange(self.tokens.shape[0], device=device)
        return TokenSet.of(embeds, self.type_id, positions)
