"""What every task returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from torch import Tensor


@dataclass
class TaskOutput:
    """loss: scalar to minimise (None when the batch has no targets: prediction);
    metrics: detached scalars for logs; outputs: e.g. logits."""

    loss: Optional[Tensor]
    metrics: dict[str, Tensor] = field(default_factory=dict)
    outputs: dict[str, Tensor] = field(default_factory=dict)
