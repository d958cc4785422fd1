"""Action prediction over trajectory tokens: Decision Transformer ("dt") and behaviour cloning ("bc").

The action of step t is read from the backbone state at the STATE token s_t: under the causal
pattern it has seen everything up to s_t (R_1..R_t, s_1..s_t, a_1..a_{t-1}) and nothing later.
"dt" sequences have 3 tokens per step (R s a, state at 3t+1); "bc" sequences 2 (s a, state at 2t),
matching `TrajectoryTokenizer(use_returns=kind == "dt")`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbone import init_weights
from ..tokenizers.actions import ActionSpec
from .output import TaskOutput

KINDS = {"dt": 3, "bc": 2}  # kind -> tokens per step


class ActionTask(nn.Module):
    """Predict each step's action from its state token.

    Discrete: logits (B, K, n), cross-entropy. Continuous: tanh squashed affinely into
    [low, high], MSE. Losses average over real steps only (the trajectory's `mask`).

    Args:
        dim: backbone width D.
        action: the action space.
        inputs: tokenizer names; the trajectory is the last.
        pattern: attention pattern ("causal").
        kind: "dt" (3 tokens per step) or "bc" (2, no return tokens).
    """

    def __init__(self, dim: int, action: ActionSpec, inputs: Sequence[str] = ("trajectory",),
                 pattern: str = "causal", kind: str = "dt") -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
        self.inputs, self.pattern, self.kind, self.action = tuple(inputs), pattern, kind, action
        tps = KINDS[kind]
        self.readout = (self.inputs[-1], slice(tps - 2, None, tps))  # the state tokens: forward gets their states
        self.head = nn.Linear(dim, action.n if action.discrete else action.dim)
        init_weights(self.head)
        if not action.discrete:
            low, high = torch.tensor(action.low), torch.tensor(action.high)
            self.register_buffer("center", (high + low) / 2, persistent=False)
            self.register_buffer("half_range", (high - low) / 2, persistent=False)

    @property
    def tokens_per_step(self) -> int:
        return KINDS[self.kind]

    def state_states(self, h: Tensor) -> Tensor:
        """Backbone states at the state tokens: (B, tps*K, D) -> (B, K, D)."""
        return h[:, self.tokens_per_step - 2::self.tokens_per_step]

    def raw(self, hs: Tensor) -> Tensor:
        """Logits (..., n) or bounded continuous actions (..., A) from state-token states (..., D)."""
        y = self.head(hs)
        if self.action.discrete:
            return y
        return self.center + self.half_range * torch.tanh(y.float())

    def act(self, hs: Tensor) -> Tensor:
        """Greedy actions from state-token states (..., D): ids (...) or values (..., A)."""
        y = self.raw(hs)
        return y.argmax(dim=-1) if self.action.discrete else y

    def predict_actions(self, h: Tensor) -> Tensor:
        """Greedy actions of every step from trajectory states (B, tps*K, D): (B, K) or (B, K, A)."""
        return self.act(self.state_states(h))

    def forward(self, parts: list[Tensor], batch: dict, masks: Optional[list] = None) -> TaskOutput:
        """parts[-1]: the states of the state tokens, (B, K, D), as `readout` has the model hand them
        over, or of every trajectory token, (B, tps*K, D)."""
        traj = batch[self.inputs[-1]]
        h = parts[-1]
        if h.shape[1] != traj["states"].shape[1]:
            h = self.state_states(h)  # (B, K, D)
        y = self.raw(h)  # (B, K, n) or (B, K, A)
        if self.action.discrete:
            outputs = {"actions": y.argmax(dim=-1), "logits": y}
        else:
            outputs = {"actions": y}
        targets = traj.get("actions") if isinstance(traj, dict) else None
        if targets is None:  # prediction
            return TaskOutput(None, {}, outputs)
        per_step = self._per_step_loss(y, targets)  # (B, K)
        weights = _step_weights(traj.get("mask"), per_step)
        loss = (per_step * weights).sum() / weights.sum().clamp(min=1.0)
        return TaskOutput(loss, self._metrics(loss, y, targets, weights), outputs, weight=weights.sum())

    def _per_step_loss(self, y: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy or mean squared error of each step, (B, K)."""
        if self.action.discrete:
            ids = targets.long().clamp(0, self.action.n - 1)  # padding may hold any id
            return F.cross_entropy(y.float().flatten(0, 1), ids.flatten(), reduction="none").view(ids.shape)
        return (y.float() - targets.float()).pow(2).mean(dim=-1)

    def _metrics(self, loss: Tensor, y: Tensor, targets: Tensor, weights: Tensor) -> dict[str, Tensor]:
        if not self.action.discrete:
            return {"loss": loss.detach(), "action_mse": loss.detach()}
        hits = (y.argmax(dim=-1) == targets.long()).float()
        acc = (hits * weights).sum() / weights.sum().clamp(min=1.0)
        return {"loss": loss.detach(), "action_acc": acc.detach()}


def _step_weights(mask: Optional[Tensor], like: Tensor) -> Tensor:
    """1.0 for real steps, 0.0 for padding, shaped like `like` (B, K)."""
    if mask is None:
        return torch.ones_like(like)
    return mask.to(like.dtype)
