"""Training parts you built yourself (a TzooModel and each task's data) through the one loop."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch

from ..errors import TzooError
from .base import Parts, RecipeBase
from .checkpoint import load_weights, model_sha
from .rundir import WEIGHTS, RunDir
from .settings import LoopConfig, OptimConfig
from .train import Trainer

CUSTOM = "custom"


@dataclass
class CustomConfig:
    """What the loop needs besides the parts: the loop and the optimizer."""

    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


class GivenParts(RecipeBase):
    """A recipe whose `build` returns parts made by the caller (called once per process)."""

    name = CUSTOM
    summary = "parts built in Python (tzoo.fit)"

    def __init__(self, make: Callable[[], Parts]) -> None:
        super().__init__({"given": CustomConfig})
        self.make = make

    def build(self, cfg: CustomConfig, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> Parts:
        return self.make()


def fit(parts: Union[Parts, Callable[[], Parts]], out: Union[str, Path], loop: Optional[LoopConfig] = None,
        optim: Optional[OptimConfig] = None, resume: bool = False) -> Optional[dict[str, Any]]:
    """Train `parts` (or a function returning them) into the run directory `out` with the loop every
    recipe uses: checkpoints, resume, logs, loss plot, metrics.json. Returns the final metrics
    (None on processes other than the main one)."""
    make = parts if callable(parts) else (lambda: parts)
    cfg = CustomConfig(loop or LoopConfig(), optim or OptimConfig())
    return Trainer(GivenParts(make), cfg, RunDir(out), resume).fit()


def load_into(model: torch.nn.Module, out: Union[str, Path]) -> torch.nn.Module:
    """Load the weights of the run directory `out` into `model` (built as it was for training)."""
    run = RunDir(out)
    if not (run / WEIGHTS).is_file():
        raise TzooError(f"{run / WEIGHTS}: no weights; pass the folder a tzoo.fit run wrote")
    load_weights(model, run / WEIGHTS, model_sha(run))
    return model.eval()
