"""Config sections every recipe shares: the training loop and the optimizer."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Literal, Optional

from ..backbone import BackboneConfig
from ..errors import TzooError


@dataclass
class LoopConfig:
    """The training loop.

    Attributes:
        batch_size: examples per process per micro-step (global batch = batch_size * processes * grad_accum).
        grad_accum: micro-steps per optimizer step.
        max_steps: optimizer steps in the whole run; with `epochs`, the most steps it may take.
        epochs: passes over the training data (0 = the budget is max_steps); resolved to steps once
            the data size is known (at most max_steps), and the run's config records those steps.
        eval_every: evaluate every this many steps (and at the end).
        eval_batches: validation batches per periodic evaluation (the final evaluation scores the
            whole validation split); 0 = the whole split every time, so checkpoints compare on equal terms.
        log_every: every this many steps, a log.jsonl record (training loss, learning rate, throughput)
            and, when not on a terminal, a plain progress line.
        save_every: checkpoint every this many steps (and at the end); 0 = only at the end.
        mixed_precision: "no", "bf16" or "fp16" (autocast through accelerate).
        seed: seeds initialisation, data order, augmentation and dropout.
        on_nonfinite: a NaN/inf loss either stops the run ("stop") or skips that step ("skip").
        compile: torch.compile the model (worth it on GPUs).
        workers: processes that build upcoming batches in parallel (0 = in the training process);
            results do not depend on it.
        log_with: also send log.jsonl's numbers to an experiment tracker through accelerate:
            "tensorboard" (event files in RUN/tensorboard), "wandb", "trackio", "mlflow", "all"
            (every one installed) or "none".
    """

    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 1000
    epochs: float = 0.0
    eval_every: int = 250
    eval_batches: int = 20
    log_every: int = 50
    save_every: int = 500
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 1337
    on_nonfinite: Literal["stop", "skip"] = "stop"
    compile: bool = False
    workers: int = 0
    log_with: Literal["none", "tensorboard", "wandb", "trackio", "mlflow", "all"] = "none"

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum", "max_steps", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.epochs < 1e9:
            raise ValueError(f"epochs: must be >= 0 (0 = use max_steps), got {self.epochs}")
        if self.eval_batches < 0:
            raise ValueError(f"eval_batches: must be >= 0, got {self.eval_batches}")
        if self.workers < 0:
            raise ValueError(f"workers: must be >= 0, got {self.workers}")
        if self.save_every < 0:
            raise ValueError(f"save_every: must be >= 0, got {self.save_every}")


def resolve_epochs(loop: LoopConfig, examples: Optional[int], world: int = 1) -> tuple[LoopConfig, str]:
    """`loop` with max_steps set from `epochs` over `examples` training examples (at most the given
    max_steps), and one line saying how many steps that is ("" when the budget is in steps)."""
    if not loop.epochs:
        return loop, ""
    if not examples:
        raise TzooError(f"--loop.epochs={loop.epochs:g}: this recipe's training data has no size in examples; "
                        "give the budget as --loop.max_steps")
    per_step = loop.batch_size * loop.grad_accum * world
    steps = max(1, math.ceil(loop.epochs * examples / per_step))
    capped = steps > loop.max_steps
    chosen = min(steps, loop.max_steps)
    note = (f"budget: {loop.epochs:g} epoch{'' if loop.epochs == 1 else 's'} of {examples:,} examples at {per_step} per step = {steps:,} steps"
            + (f", capped at --loop.max_steps={loop.max_steps:,} ({chosen * per_step / examples:.3g} epochs)"
               if capped else ""))
    return replace(loop, max_steps=chosen), note


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay.

    Attributes:
        lr: peak learning rate after warmup.
        min_lr: learning rate at the last step.
        warmup_steps: linear warmup length.
        weight_decay: applied to weights with 2+ dimensions only (not biases and norms).
        beta1: AdamW beta1.
        beta2: AdamW beta2.
        grad_clip: max global gradient norm; 0 disables clipping.
        ema_decay: keep an exponential moving average of the weights, its decay warming up with the
            step to this value (timm's ModelEmaV3); evaluation, the checkpoint choice, the test and
            the published weights then use the average. 0 = no average.
    """

    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    ema_decay: float = 0.0

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr: must be in [0, lr], got {self.min_lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("warmup_steps: warmup_steps, weight_decay and grad_clip must be >= 0")
        for name in ("beta1", "beta2", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(self, name)}")


def sized_backbone(cfg: BackboneConfig, positions: int, source: str = "") -> BackboneConfig:
    """The backbone config a recipe builds: max_positions sized to its data (unless set) and a size
    that fits in memory. `source` names the setting the positions come from (for the error message)."""
    try:
        sized = cfg.with_positions(positions)
    except ValueError as e:
        raise TzooError(f"--backbone.{e}") from None
    what = f"--backbone.dim={cfg.dim} --backbone.depth={cfg.depth}, {sized.max_positions} positions"
    check_fits(backbone_params(sized), f"{what} (from {source})" if source else what)
    return sized


def backbone_params(cfg: BackboneConfig) -> int:
    """Parameters of a Backbone with `cfg` (attention + MLP weights per block, position and type tables),
    counted without building it; biases and norms are left out."""
    per_block = (4 + 2 * cfg.mlp_ratio) * cfg.dim ** 2
    return int(cfg.depth * per_block + ((cfg.max_positions or 0) + cfg.num_types) * cfg.dim)


def available_memory() -> int:
    """Bytes of host memory available now (MemAvailable on Linux, free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(params: int, what: str) -> None:
    """Refuse a model whose float32 weights, gradients and AdamW moments (16 bytes per parameter)
    would not fit the memory available: better a clear error now than the OOM killer later."""
    need, have = 16 * params, available_memory()
    if need > have:
        raise TzooError(f"{what}: the model needs about {need / 2 ** 30:,.1f} GiB for weights, gradients and "
                        f"optimizer state, more than the {have / 2 ** 30:,.1f} GiB of memory available; make it smaller")
