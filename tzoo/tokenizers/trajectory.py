"""Trajectories -> TokenSet: return-to-go, state and action of every step, side by side.

Decision Transformer ("dt", `use_returns=True`): 3 tokens per step, R1 s1 a1 R2 s2 a2 ...
Behaviour cloning ("bc", `use_returns=False`): 2 tokens per step, s1 a1 s2 a2 ...; the returns are
accepted (so both read the same batches) but never embedded, so a BC policy cannot depend on them.

The three tokens of a step share one position: the step's timestep within its episode (clamped to
`max_timestep - 1`), so a window cut anywhere in an episode keeps absolute time.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..backbone import TokenSet, init_weights
from .actions import ActionSpec
from .types import ACTION, RETURN, STATE


class TrajectoryTokenizer(nn.Module):
    """Embed (returns, states, actions, timesteps) of K steps into 3K (or 2K) tokens.

    Args:
        state_dim: observation width S.
        action: the action space (discrete ids or continuous vectors).
        dim: backbone width D.
        max_timestep: positions are timesteps clamped to max_timestep - 1; the backbone's
            `max_positions` must be at least this.
        use_returns: False drops the return tokens (behaviour cloning).
    """

    type_ids = (RETURN, STATE, ACTION)

    def __init__(self, state_dim: int, action: ActionSpec, dim: int, max_timestep: int,
                 use_returns: bool = True) -> None:
        super().__init__()
        if max_timestep < 1:
            raise ValueError(f"max_timestep: must be >= 1, got {max_timestep}")
        self.action, self.max_timestep, self.use_returns = action, max_timestep, use_returns
        self.return_embed = nn.Linear(1, dim) if use_returns else None
        self.state_embed = nn.Linear(state_dim, dim)
        self.action_embed = nn.Embedding(action.n, dim) if action.discrete else nn.Linear(action.dim, dim)
        self.apply(init_weights)

    @property
    def tokens_per_step(self) -> int:
        """3 with return tokens (dt), 2 without (bc)."""
        return 3 if self.use_returns else 2

    def embed_actions(self, actions: Tensor) -> Tensor:
        """(B, K) ids or (B, K, A) values -> (B, K, D)."""
        if self.action.discrete:
            return self.action_embed(actions.long().clamp(0, self.action.n - 1))
        return self.action_embed(actions.float())

    def forward(self, returns: Tensor, states: Tensor, actions: Tensor, timesteps: Tensor,
                mask: Optional[Tensor] = None) -> TokenSet:
        # returns (B, K), states (B, K, S), actions (B, K[, A]), timesteps (B, K), mask (B, K)
        states, actions, returns = (_zero_padding(x, mask) for x in (states, actions, returns))
        positions = timesteps.long().clamp(0, self.max_timestep - 1)  # (B, K)
        sets = [TokenSet.of(self.state_embed(states.float()), STATE, positions, mask),
                TokenSet.of(self.embed_actions(actions), ACTION, positions, mask)]  # each (B, K, D)
        if self.use_returns:
            r = self.return_embed(returns.float().unsqueeze(-1))  # (B, K, D)
            sets.insert(0, TokenSet.of(r, RETURN, positions, mask))
        tokens = TokenSet.interleave(sets)  # (B, tps*K, D)
        tokens.type_ids = tokens.type_ids[:1]  # the same for every row: (1, tps*K)
        return tokens


def _zero_padding(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """x with padded steps (mask False) set to 0, so junk or NaN padding cannot leak in."""
    if mask is None:
        return x
    m = mask.view(*mask.shape, *([1] * (x.dim() - mask.dim())))
    return torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))

