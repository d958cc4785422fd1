"""Moving batches between devices: one helper for the training loop, the evaluators and the recipes."""
from __future__ import annotations

from typing import Any

import torch


def to_device(batch: Any, device: torch.device | str) -> Any:
    """`batch` with every tensor, at any depth of nested dicts, moved to `device`; other values as they are."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
