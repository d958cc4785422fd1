"""What every task returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from torch import Tensor


@dataclass
class TaskOutput:
    """loss: scalar to minimise (None when the batch has no targets: prediction);
    metrics: detached scalars for logs; outputs: e.g. logits;
    weight: how many items `loss` averages over when that varies from batch to batch (padded steps
    left out); with several processes the loop then weights each process's loss by its share, so
    the step follows the mean over the global batch, as one process would."""

    loss: Optional[Tensor]
    metrics: dict[str, Tensor] = field(default_factory=dict)
    outputs: dict[str, Tensor] = field(default_factory=dict)
    weight: Optional[Tensor] = None
