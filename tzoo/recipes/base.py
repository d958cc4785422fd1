"""What a recipe provides to the shared training loop and the CLI."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import torch
from torch import Tensor

from ..tasks import TzooModel
from .rundir import RunDir


class BatchSource(Protocol):
    """Training batches as a pure function of the micro-batch index (resumable, process-count free)."""

    unit: str  # what throughput counts: "tokens", "images", "clips", ...

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Any]: ...

    def items(self, batch: dict[str, Any]) -> int: ...


@dataclass
class Parts:
    """Everything the loop needs from a recipe.

    Attributes:
        model: the model to train.
        train: training batches.
        evaluate: (model, final, rank, world) -> summed statistics as tensors; the loop adds
            them up over processes. `final` asks for the full evaluation split.
        summarize: summed statistics -> metrics (floats) for logs and metrics.json.
        monitor: metric that picks the best checkpoint; higher_is_better says which way.
        finish: called on the main process after the final evaluation with the trained model,
            the run and the final metrics; writes plots, samples, extra figures (may add metrics).
    """

    model: TzooModel
    train: BatchSource
    evaluate: Callable[[TzooModel, bool, int, int], dict[str, Tensor]]
    summarize: Callable[[dict[str, Tensor]], dict[str, float]]
    monitor: str = "val_loss"
    higher_is_better: bool = False
    finish: Optional[Callable[[TzooModel, RunDir, dict], None]] = None


class Recipe(Protocol):
    """A named way to train something: presets, build, and the CLI verbs it supports."""

    name: str
    summary: str
    presets: dict[str, Callable[[], Any]]  # the first one is the default

    def build(self, cfg: Any, run: RunDir, device: torch.device, is_main: bool,
              barrier: Callable[[], None]) -> Parts: ...

    def load(self, cfg: Any, run: RunDir) -> TzooModel: ...
