"""AdamW with nanoGPT's decay groups, the warmup + cosine learning-rate schedule, the weight average."""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import nn

from .settings import OptimConfig


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on parameters with >= 2 dims (matrices, embeddings), none on the rest."""
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel (CPU and CUDA) updates every tensor in one pass: about 3x faster than the
    # per-parameter loop for small models, where the optimizer is a visible share of a step.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused or None)


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    span = max(max_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def make_ema(model: nn.Module, cfg: OptimConfig) -> Optional[Any]:
    """timm's ModelEmaV3 over `model` (its `.module` holds the average, in eval mode), or None when
    cfg.ema_decay is 0. The decay warms up, 1 - n ** -2/3 at the n-th update (0: a copy) capped at
    cfg.ema_decay, so early averages are not dominated by the initial weights; `update(model, step)` is stateless
    apart from the averaged weights, which is what makes it resumable from a checkpoint. Parameters
    are averaged through `parameters()`, where a tied tensor appears once (timm's buffer-including
    path walks the state dict and would average a tied tensor twice a step); buffers are copied."""
    if cfg.ema_decay <= 0:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True, exclude_buffers=True)
