"""Config sections every recipe shares: the training loop and the optimizer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..tokenizers.types import NUM_TYPES


@dataclass
class LoopConfig:
    """The training loop.

    Attributes:
        batch_size: examples per process per micro-step (global batch = batch_size * processes * grad_accum).
        grad_accum: micro-steps per optimizer step.
        max_steps: optimizer steps in the whole run.
        eval_every: evaluate every this many steps (and at the end).
        eval_batches: batches per periodic evaluation (the final evaluation uses the whole split).
        log_every: plain log line every this many steps when not on a terminal.
        save_every: checkpoint every this many steps (and at the end); 0 = only at the end.
        mixed_precision: "no", "bf16" or "fp16" (autocast through accelerate).
        seed: seeds initialisation, data order, augmentation and dropout.
        on_nonfinite: a NaN/inf loss either stops the run ("stop") or skips that step ("skip").
        compile: torch.compile the model (worth it on GPUs).
        workers: processes that build upcoming batches in parallel (0 = in the training process);
            results do not depend on it.
    """

    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 1000
    eval_every: int = 250
    eval_batches: int = 20
    log_every: int = 50
    save_every: int = 500
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 1337
    on_nonfinite: Literal["stop", "skip"] = "stop"
    compile: bool = False
    workers: int = 0

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum", "max_steps", "eval_every", "eval_batches", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"workers: must be >= 0, got {self.workers}")
        if self.save_every < 0:
            raise ValueError(f"save_every: must be >= 0, got {self.save_every}")


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
    """

    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr: must be in [0, lr], got {self.min_lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("warmup_steps: warmup_steps, weight_decay and grad_clip must be >= 0")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(self, name)}")


def sized_backbone(cfg: BackboneConfig, positions: int) -> BackboneConfig:
    """The backbone config a recipe builds: max_positions sized to its data (unless set), and a
    type table large enough for every tokenizer's type id."""
    if cfg.num_types < NUM_TYPES:
        raise TzooError(f"--backbone.num_types={cfg.num_types}: the tokenizers use {NUM_TYPES} type ids; "
                        f"set it to {NUM_TYPES} or more")
    try:
        return cfg.with_positions(positions)
    except ValueError as e:
        raise TzooError(f"--backbone.{e}") from None
