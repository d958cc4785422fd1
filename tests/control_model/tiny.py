"""A tiny random-weight trajectory model and batches for the control-model tests."""
from __future__ import annotations

from typing import Optional

import torch

from tzoo.backbone import Backbone, BackboneConfig
from tzoo.tokenizers.actions import ActionSpec
from tzoo.tasks.decision import ActionTask
from tzoo.tokenizers.trajectory import TrajectoryTokenizer

DIM = 32
DISCRETE = ActionSpec.discrete_of(3)
CONTINUOUS = ActionSpec.box([-1.0, 0.0], [3.0, 0.5])


def tiny_model(action: ActionSpec, kind: str = "dt", state_dim: int = 4, max_timestep: int = 64, seed: int = 0):
    """(tokenizer, backbone, task) with random weights."""
    torch.manual_seed(seed)
    tok = TrajectoryTokenizer(state_dim, action, DIM, max_timestep, use_returns=kind == "dt")
    backbone = Backbone(BackboneConfig(dim=DIM, depth=2, heads=2, max_positions=max_timestep))
    task = ActionTask(DIM, action, kind=kind)
    return tok, backbone, task


def random_actions(action: ActionSpec, b: int, k: int, g: torch.Generator) -> torch.Tensor:
    if action.discrete:
        return torch.randint(0, action.n, (b, k), generator=g)
    return torch.rand(b, k, action.dim, generator=g) * 0.5


def batch(action: ActionSpec, b: int = 3, k: int = 5, state_dim: int = 4, start: int = 0,
          mask: Optional[torch.Tensor] = None, seed: int = 0) -> dict:
    """A training batch shaped like the data side's: {"trajectory": {...}}."""
    g = torch.Generator().manual_seed(seed)
    traj = {"returns": torch.randn(b, k, generator=g),
            "states": torch.randn(b, k, state_dim, generator=g),
            "actions": random_actions(action, b, k, g),
            "timesteps": start + torch.arange(k).expand(b, k).clone(),
            "mask": torch.ones(b, k, dtype=torch.bool) if mask is None else mask}
    return {"trajectory": traj}


def run(tok, backbone, task, data: dict):
    """Tokenize -> causal backbone -> task (the states of its readout tokens), without TzooModel;
    returns (TaskOutput, every token's states)."""
    tokens = tok(**data["trajectory"])
    h = backbone(tokens, task.pattern)  # (B, tps*K, D)
    rows = task.readout[1]
    return task([h[:, rows]], data, [tokens.mask[:, rows]]), h
