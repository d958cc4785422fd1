"""Inputs that an example may lack: an absent input is masked out of the set, never zero-filled."""
from __future__ import annotations

from typing import Any, Optional

from torch import Tensor, nn

from ..backbone import TokenSet


class MaybeAbsent(nn.Module):
    """Wrap a tokenizer so a batch entry may carry `present` (B,) bool: rows where it is False get an
    all-padding set (every token masked), so no other token can attend to them and the output
    does not depend on what their data holds.

    Args:
        tokenizer: the wrapped tokenizer; its other arguments pass through unchanged.
    """

    def __init__(self, tokenizer: nn.Module) -> None:
        super().__init__()
        self.inner = tokenizer
        self.type_id = getattr(tokenizer, "type_id", 0)
        self.type_ids = getattr(tokenizer, "type_ids", None) or (self.type_id,)

    def forward(self, present: Optional[Tensor] = None, **inputs: Any) -> TokenSet:
        tokens = self.inner(**inputs)  # (B, N, D)
        if present is None:
            return tokens
        mask = tokens.full_mask() & present.to(tokens.embeds.device).bool()[:, None]  # (B, N)
        return TokenSet(tokens.embeds, tokens.type_ids, tokens.positions, mask)

