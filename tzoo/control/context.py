"""Acting from a trajectory model over a bounded context window, with or without a KV cache.

The model was trained on windows of at most `context` steps whose positions are absolute
timesteps, so at acting time it should see a recent stretch of at most `context` steps. Positions
being absolute, keys cannot slide: when the window would exceed `context` steps it restarts from
the most recent `context // 2` steps (one full causal forward into a reset cache) and grows again
one step at a time. The model thus always sees between context//2 and context recent steps.
Without the cache the very same window is recomputed with one full forward per step, so both paths
give the same actions up to float rounding.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..backbone import Backbone
from ..tokenizers.actions import ActionSpec
from ..tokenizers.trajectory import TrajectoryTokenizer


class History:
    """Per-step inputs of a batch of episodes run in lockstep; the last step's action is pending.

    Args:
        action: the action space (for the placeholder of the pending action).
        batch: number of rows B.
        device: where the tensors live.
    """

    def __init__(self, action: ActionSpec, batch: int, device: torch.device | str = "cpu") -> None:
        self.action, self.batch, self.device = action, batch, torch.device(device)
        self.returns: list[Tensor] = []  # each (B,)
        self.states: list[Tensor] = []  # each (B, S)
        self.actions: list[Tensor] = []  # each (B,) long or (B, A)
        self.timesteps: list[Tensor] = []  # each (B,) long

    def __len__(self) -> int:
        return len(self.states)

    def append(self, returns: Tensor, states: Tensor, timestep: int) -> None:
        """Start a step: scaled return-to-go (B,), normalised state (B, S); its action pending."""
        self.returns.append(returns.float().to(self.device))
        self.states.append(states.float().to(self.device))
        self.timesteps.append(torch.full((self.batch,), timestep, dtype=torch.long, device=self.device))
        self.actions.append(self._placeholder())

    def set_action(self, action: Tensor) -> None:
        """The action taken at the last step: (B,) ids or (B, A) values."""
        self.actions[-1] = action.to(self.device)

    def window(self, begin: int) -> dict[str, Tensor]:
        """Steps begin..len-1 as tokenizer keyword arguments, each (B, L, ...)."""
        return {"returns": torch.stack(self.returns[begin:], dim=1),
                "states": torch.stack(self.states[begin:], dim=1),
                "actions": torch.stack(self.actions[begin:], dim=1),
                "timesteps": torch.stack(self.timesteps[begin:], dim=1)}

    def _placeholder(self) -> Tensor:
        if self.action.discrete:
            return torch.zeros(self.batch, dtype=torch.long, device=self.device)
        return torch.zeros(self.batch, self.action.dim, device=self.device)


class ContextPolicy:
    """Greedy actions of a trajectory model (tokenizer + backbone + ActionTask) over a window.

    Args:
        tokenizer: a `TrajectoryTokenizer`.
        backbone: the shared backbone.
        task: an `ActionTask` of the same kind (tokens per step) as the tokenizer.
        context: largest window in steps (the training window length K).
        batch: rows run in lockstep.
        use_cache: keep a KV cache and feed only the new tokens of each step.
    """

    def __init__(self, tokenizer: TrajectoryTokenizer, backbone: Backbone, task: nn.Module,
                 context: int, batch: int, use_cache: bool = True) -> None:
        if context < 1:
            raise ValueError(f"context: must be >= 1, got {context}")
        if tokenizer.tokens_per_step != task.tokens_per_step:
            raise ValueError(f"tokenizer has {tokenizer.tokens_per_step} tokens per step but the task "
                             f"expects {task.tokens_per_step}; build both with the same kind")
        self.tokenizer, self.backbone, self.task = tokenizer, backbone, task
        self.context, self.tps = context, tokenizer.tokens_per_step
        self.cache = backbone.new_cache(batch, self.tps * context) if use_cache else None
        self.start = 0  # first step of the current window

    def reset(self) -> None:
        """Forget the window (new episodes)."""
        self.start = 0
        if self.cache is not None:
            self.cache.reset()

    def act(self, history: History) -> Tensor:
        """Actions for the pending last step of `history`: (B,) ids or (B, A) values."""
        t = len(history)
        start = window_start(t, self.start, self.context)
        refill, self.start = start != self.start, start
        if self.cache is None or refill or t - self.start == 1:
            h = self._encode(history, self.start, 0)  # the whole window, (B, tps*L - 1, D)
        else:
            h = self._encode(history, t - 2, self.tps - 1)  # [a_{t-1}, (R_t,) s_t], (B, tps-1, D)
        return self.task.act(h[:, -1])  # state token of the last step

    def _encode(self, history: History, begin: int, first: int) -> Tensor:
        """Backbone states of steps begin.. from token `first`, without the pending action token."""
        tokens = self.tokenizer(**history.window(begin))  # (B, tps*L, D)
        tokens = tokens.slice(first, tokens.embeds.shape[1] - 1)
        if self.cache is not None and first == 0:
            self.cache.reset()
        return self.backbone(tokens, self.task.pattern, cache=self.cache)  # (B, n, D)


def window_start(t: int, start: int, context: int) -> int:
    """First step of the window at step count `t`, given the current first step `start`."""
    return t - max(1, context // 2) if t - start > context else start


def window_sizes(steps: int, context: int) -> list[int]:
    """How many steps the policy sees at each of the first `steps` steps."""
    sizes, start = [], 0
    for t in range(1, steps + 1):
        start = window_start(t, start, context)
        sizes.append(t - start)
    return sizes
