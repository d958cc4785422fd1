"""THE training loop, shared by every recipe (Hugging Face accelerate).

Order: seed -> build -> prepare -> (accumulate -> clip -> step) -> reduce metrics -> save.
Randomness is keyed by (seed, step, process): data batches come from `BatchSource.batch(index)`
and the global torch RNG (dropout, stochastic depth) is reseeded every step, so a resumed run
sees exactly what an uninterrupted one would have.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType
from torch import Tensor

from ..devices import to_device
from ..errors import TzooError, is_out_of_memory
from ..modalities.streams import Stream, step_seed
from . import trackers
from .base import Parts, Recipe
from .batches import batch_stream
from .card import write_card
from .checkpoint import load_checkpoint, never_saved, publish_weights, save_checkpoint
from .optim import lr_at, make_ema, make_optimizer, set_lr
from .plots import loss_curves
from .progress import Progress, Stopwatch
from .rundir import RunDir
from .settings import resolve_epochs

WARMUP_STEPS = 5  # steps per session left out of throughput (allocator and kernel warm-up)


class NonFiniteLoss(TzooError):
    """Training produced NaN/inf; exit status 3."""

    exit_code = 3


@dataclass
class TrainerState:
    """Counters saved with every checkpoint (trainer.json)."""

    step: int = 0
    wall_s: float = 0.0
    train_items: int = 0
    train_time_s: float = 0.0
    skipped_steps: int = 0
    best_value: Optional[float] = None
    best_step: Optional[int] = None

    @classmethod
    def from_json(cls, d: dict) -> "TrainerState":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})


def seed_step(seed: int, device: torch.device) -> None:
    """Reseed the generators dropout and stochastic depth draw from (CPU, and the GPU in use).

    Seeding only these two keeps it cheap: torch.manual_seed also walks every other backend
    (about 0.2 ms per step on a CPU-only machine with a CUDA build of torch).
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


SHARDED = (DistributedType.FSDP, DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM)


def make_accelerator(loop, unused_parameters: bool = False, run: Optional[RunDir] = None) -> Accelerator:
    """The accelerate front end. Several processes without a GPU (torchrun on a CPU machine) need
    accelerate's CPU mode, or each process silently trains alone. `unused_parameters`: a step may
    leave parameters without a gradient (a multi-task step trains one task's head), which DDP
    must be told about. `run`: the run folder, where a tracker of --loop.log_with writes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cpu = world > 1 and not torch.cuda.is_available()
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if unused_parameters else []
    tracking = trackers.accelerator_kwargs(loop.log_with, run) if run is not None else {}
    acc = Accelerator(mixed_precision=loop.mixed_precision, cpu=cpu, kwargs_handlers=handlers, **tracking)
    if acc.distributed_type in SHARDED:
        raise TzooError(f"accelerate is configured for {acc.distributed_type.value}: tzoo checkpoints are whole "
                        "(unsharded) state written by the main process, so sharded training is not supported "
                        "yet; choose multi-GPU (DDP) in `accelerate config`")
    return acc


class Trainer:
    """One run of one recipe: builds, trains, evaluates and checkpoints."""

    def __init__(self, recipe: Recipe, cfg: Any, run: RunDir, resume: bool = False) -> None:
        self.recipe, self.cfg, self.run, self.resume = recipe, cfg, run, resume
        self.loop, self.optim = cfg.loop, cfg.optim
        self.acc = make_accelerator(self.loop, getattr(recipe, "unused_parameters", False), run)
        self.main = self.acc.is_main_process
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        # On a GPU, checking every loss would sync every step; in stop mode checks are batched (flush).
        self.defer = self.acc.device.type == "cuda" and self.loop.on_nonfinite == "stop"
        self.pending: list[tuple[int, Tensor]] = []
        self.window: list[float] = []  # training losses since the last log.jsonl record

    # -- set-up ---------------------------------------------------------------------------
    def setup(self) -> None:
        if not self.resume:
            self.run.check_new()
            self.acc.wait_for_everyone()
        self.fresh = not self.resume
        # What the folder held before this run started: a fresh run that fails removes only what it made.
        self.before = set(self.run.path.iterdir()) if self.run.path.is_dir() else None
        self.saved = False  # whether the folder holds a checkpoint of this run
        try:
            self._build()
        except BaseException:
            if self.fresh and self.main:  # bad input, or a failed set-up: leave nothing half-written behind
                self._discard()
            raise

    def _build(self) -> None:
        torch.manual_seed(self.loop.seed)
        self.parts: Parts = self.recipe.build(self.cfg, self.run, self.main, self.acc.wait_for_everyone)
        if not self.resume:  # a budget in epochs becomes steps now the data size is known; the config keeps them
            loop, note = resolve_epochs(self.loop, getattr(self.parts.train, "epoch_size", None), self.world)
            self.cfg, self.loop = dataclasses.replace(self.cfg, loop=loop), loop
            if note and self.main:
                print(note, flush=True)
        if not self.resume and self.main:
            self.run.save_config(self.recipe.name, self.cfg)
        self.model = self.parts.model
        self.unit = self.parts.train.unit
        if self.loop.compile:
            self.model = torch.compile(self.model)
        optimizer = make_optimizer(self.parts.model, self.optim)
        self.wrapped, self.optimizer = self.acc.prepare(self.model, optimizer)
        self.ema = make_ema(self.parts.model, self.optim)
        self.state = TrainerState()
        if self.resume and not never_saved(self.run):
            trainer = load_checkpoint(self.run, self.parts.model, self.optimizer, ema=self.averaged)
            self.state = TrainerState.from_json(trainer)
            self.saved = True
        elif self.resume and self.main:  # stopped (killed) before its first checkpoint: its config is kept
            print(f"{self.run.path}: no checkpoint yet; training from step 0", file=sys.stderr, flush=True)
        if self.resume and self.main:
            self.run.truncate_log(self.state.step)
        accum = self.loop.grad_accum
        self.stream = batch_stream(self.parts.train, self.state.step * accum, self.loop.max_steps * accum,
                                   self.rank, self.world, self.loop.workers, self.acc.device.type == "cuda")

    @property
    def averaged(self) -> Optional[torch.nn.Module]:
        """The weight average (--optim.ema_decay), or None."""
        return None if self.ema is None else self.ema.module

    @property
    def scored(self) -> torch.nn.Module:
        """The weights that are evaluated, chosen, tested and published: the average if kept."""
        averaged = self.averaged
        return self.parts.model if averaged is None else averaged

    # -- one step -------------------------------------------------------------------------
    def _global(self, losses: Tensor) -> tuple[list[float], list[bool]]:
        """Losses averaged over processes, and which are NaN/inf on any process (one collective)."""
        bad = (~torch.isfinite(losses)).float()
        both = torch.stack([torch.nan_to_num(losses, nan=0.0, posinf=0.0, neginf=0.0), bad])
        if self.world > 1:
            both = self.acc.reduce(both, "sum")
        values, flags = both.tolist()
        return [v / self.world for v in values], [f > 0 for f in flags]

    def train_step(self) -> tuple[Optional[Tensor], int]:
        """One optimizer step over grad_accum micro-batches.

        Returns (mean loss as a detached 0-d tensor, or None if the step was skipped, items seen).
        Unless the finiteness check is deferred (GPU, stop mode), every micro-batch's loss is
        checked before its backward pass.
        """
        step, accum = self.state.step, self.loop.grad_accum
        lr_of = self.parts.lr_of
        set_lr(self.optimizer, lr_at(step, self.optim, self.loop.max_steps) if lr_of is None else
               sum(lr_of(step * accum + m) for m in range(accum)) / accum)
        seed_step(step_seed(self.loop.seed, Stream.TRAIN_RNG, step, self.rank), self.acc.device)
        total, items = None, 0
        for micro in range(accum):
            batch = self._next_batch(step * accum + micro)
            items += self.parts.train.items(batch) * self.world
            batch = to_device(batch, self.acc.device)
            sync = micro == accum - 1 or self.world == 1
            with contextlib.nullcontext() if sync else self.acc.no_sync(self.wrapped):
                loss = self._global_mean(self.wrapped(batch, task=batch.pop("task", None)))
                if not self.defer and self._global(loss.detach().float()[None])[1][0]:
                    self._nonfinite(step, loss.item())
                    for rest in range(micro + 1, accum):  # the step's other micro-batches go unused
                        self._next_batch(step * accum + rest)
                    return None, items
                self.acc.backward(loss / accum if accum > 1 else loss)
            total = loss.detach() if total is None else total + loss.detach()
        if self.optim.grad_clip > 0:
            self.acc.clip_grad_norm_(self.wrapped.parameters(), self.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.parts.model, step=step + 1)
        return total / accum, items

    def _next_batch(self, expected: int) -> Any:
        """The next training micro-batch, which must be number `expected` (a step reads all of its own)."""
        index, batch = next(self.stream)
        if index != expected:
            raise RuntimeError(f"training read micro-batch {index} where {expected} was due; "
                               "batches would shift (a step left some of its micro-batches unread)")
        return batch

    def _global_mean(self, out) -> Tensor:
        """The loss to step on: with several processes and a loss averaged over a varying number of
        items (`out.weight`), rescaled by this process's share so the gradient is the global mean."""
        if self.world == 1 or out.weight is None:
            return out.loss
        weight = out.weight.detach().float().reshape(1)
        total = self.acc.reduce(weight.clone(), "sum")
        return out.loss * (weight * self.world / total.clamp(min=1.0)).squeeze(0)

    def flush(self) -> Optional[float]:
        """Read the losses of the steps since the last flush (one sync); raise if one was not finite.

        On a GPU, reading a loss every step would stall the device once per step, so losses are
        kept on the device and checked here: at log lines, before evaluations and before saves
        (a checkpoint is never written after a bad step).
        """
        if not self.pending:
            return None
        steps, losses = zip(*self.pending)
        self.pending = []
        values, flags = self._global(torch.stack(losses).float())
        for step, bad in zip(steps, flags):
            if bad:
                self._nonfinite(step, float("nan"))
        self.window.extend(values)
        return self.window[-1]

    def _nonfinite(self, step: int, value: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.loop.on_nonfinite == "skip":
            self.state.skipped_steps += 1
            return None
        if self.fresh and not self.saved:  # nothing worth keeping: the run directory is removed
            raise NonFiniteLoss(f"step {step}: loss is {value} (not finite) before the first checkpoint; stopped "
                                "and nothing kept: lower --optim.lr, or pass --loop.on_nonfinite=skip")
        if not self.saved:
            raise NonFiniteLoss(f"step {step}: loss is {value} (not finite) before the first checkpoint; stopped: "
                                "lower --optim.lr, or pass --loop.on_nonfinite=skip")
        raise NonFiniteLoss(
            f"step {step}: loss is {value} (not finite); stopped, the last good checkpoint in "
            f"{self.run.path}/state is kept: resume with `tzoo train --resume {self.run.path}` after "
            "lowering --optim.lr, or pass --loop.on_nonfinite=skip")

    # -- evaluation and saving ------------------------------------------------------------
    def _reduce(self, sums: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.world > 1:
            sums = {k: self.acc.reduce(v.to(self.acc.device), "sum") for k, v in sums.items()}
        return {k: v.cpu() for k, v in sums.items()}

    @torch.no_grad()
    def evaluate(self, final: bool) -> dict[str, Any]:
        """Validation metrics of every task (prefixed by the task's name in a multi-task run)."""
        model = self.scored
        model.eval()
        metrics: dict[str, Any] = {}
        for name, data in self.parts.tasks.items():
            with self.acc.autocast():
                sums = data.validate(model, name, final, self.rank, self.world)
            metrics.update(self._named(name, data.summarize(self._reduce(sums))))
        self.parts.model.train()
        return metrics

    @torch.no_grad()
    def test(self) -> dict[str, Any]:
        """Test metrics of every task that has a test split: scored once, with the chosen weights."""
        model = self.scored.eval()
        metrics: dict[str, Any] = {}
        for name, data in self.parts.tasks.items():
            if data.test is not None:
                with self.acc.autocast():
                    sums = data.test(model, name, self.rank, self.world)
                metrics.update(self._named(name, data.summarize_test(self._reduce(sums))))
        return metrics

    def _named(self, task: str, metrics: dict[str, Any]) -> dict[str, Any]:
        return {f"{task}/{k}": v for k, v in metrics.items()} if self.parts.prefixed else metrics

    def _monitor(self) -> tuple[str, bool]:
        name, data = next(iter(self.parts.tasks.items()))
        key = f"{name}/{data.monitor}" if self.parts.prefixed else data.monitor
        return key, data.higher_is_better

    def _improved(self, metrics: dict[str, float]) -> bool:
        if not self.parts.select:
            return False
        key, higher = self._monitor()
        value = metrics.get(key)
        if value is None:
            return False
        best = self.state.best_value
        better = best is None or (value > best if higher else value < best)
        if better:
            self.state.best_value, self.state.best_step = value, self.state.step
        return better

    def save(self, best: bool) -> None:
        self.acc.wait_for_everyone()
        if self.main:
            save_checkpoint(self.run, self.parts.model, self.optimizer, vars(self.state).copy(), best, self.averaged)
        self.saved = True
        self.acc.wait_for_everyone()

    def record(self, metrics: dict[str, Any], lr: float) -> None:
        """One log.jsonl record (also sent to the trackers): the mean training loss since the previous
        record, `metrics` (validation, at an evaluation), learning rate, throughput and elapsed time."""
        window, self.window = self.window, []
        if not self.main:
            return
        rate = self.state.train_items / self.state.train_time_s if self.state.train_time_s else None
        running = {"loss": sum(window) / len(window)} if window else {}
        record = {"step": self.state.step, **running, **metrics, "lr": lr,
                  f"{self.unit}_per_s": rate, "elapsed_s": round(self.clock.total(), 2)}
        self.run.append_log(record)
        trackers.log(self.acc, record)

    def record_eval(self, metrics: dict[str, float], progress: Progress, lr: float) -> None:
        self.record(metrics, lr)
        if not self.main:
            return
        loss_curves(self.run.read_log(), self.run / "loss.png")
        shown = " | ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        progress.message(f"eval step {self.state.step}: {shown}")

    # -- the loop -------------------------------------------------------------------------
    def fit(self) -> Optional[dict[str, Any]]:
        """Train, evaluate and save; the trackers of --loop.log_with are closed however it ends."""
        try:
            return self._fit()
        finally:
            trackers.finish(self.acc)

    def _fit(self) -> Optional[dict[str, Any]]:
        self.clock = Stopwatch()
        self.setup()
        trackers.start(self.acc, self.recipe.name, self.cfg, self.run)
        loop, st = self.loop, self.state
        self.clock.before = st.wall_s
        unit = self.unit
        progress = Progress(loop.max_steps, st.step, unit, loop.log_every, self.main)
        session_steps, shown = 0, float("nan")
        self.wrapped.train()
        try:
            while st.step < loop.max_steps:
                t0 = time.perf_counter()
                loss, items = self.train_step()
                if loss is not None:
                    self.pending.append((st.step, loss))
                st.step += 1
                session_steps += 1
                boundary = any(st.step % k == 0 for k in (loop.log_every, loop.eval_every, loop.save_every or
                                                           loop.max_steps)) or st.step == loop.max_steps
                if boundary or not self.defer:
                    shown = self.flush() or shown
                dt = time.perf_counter() - t0
                if session_steps > WARMUP_STEPS:
                    st.train_items += items
                    st.train_time_s += dt
                lr = self.optimizer.param_groups[0]["lr"]
                progress.update(st.step, shown, lr, items, dt)
                if st.step % loop.log_every == 0 and st.step % loop.eval_every and st.step < loop.max_steps:
                    self.record({}, lr)  # evaluation steps and the last step are recorded with their metrics
                saved = False
                if st.step % loop.eval_every == 0 and st.step < loop.max_steps:
                    metrics = self.evaluate(final=False)
                    self.record_eval(metrics, progress, lr)
                    if self._improved(metrics):
                        st.wall_s = self.clock.total()
                        self.save(best=True)
                        saved = True
                if not saved and loop.save_every and st.step % loop.save_every == 0 and st.step < loop.max_steps:
                    st.wall_s = self.clock.total()
                    self.save(best=False)
        except BaseException as e:
            if self.fresh and not self.saved and self.main:  # failed before its first checkpoint: leave nothing
                self._discard()
            if is_out_of_memory(e):
                raise TzooError(f"step {st.step}: out of memory; lower --loop.batch_size (raise --loop.grad_accum "
                                "to keep the batch) or the model size") from None
            raise
        finally:
            progress.close()
        return self.finish(progress)

    def finish(self, progress: Progress) -> Optional[dict[str, Any]]:
        """Choose the weights to keep, score them on the whole validation split and, once, on the test
        split; they become model.safetensors.

        The last weights are scored the way the periodic evaluations were (which may take a sample of
        the validation split) and compared with the best of those; the chosen weights are then scored
        on the whole split. Without a periodic score to beat, the last weights are scored once, whole."""
        st = self.state
        compare = self.parts.select and st.best_value is not None and st.best_step != st.step
        metrics = self.evaluate(final=not compare)
        lr = self.optimizer.param_groups[0]["lr"]
        improved = self._improved(metrics)
        st.wall_s = self.clock.total()
        self.record_eval(metrics, progress, lr)  # the figures the choice used
        self.save(best=improved)
        if compare and not improved:
            load_checkpoint(self.run, self.parts.model, None, "best", ema=self.averaged)
            self.acc.wait_for_everyone()
            if self.main:
                publish_weights(self.run, self.scored)
        if compare:
            metrics = self.evaluate(final=True)  # the whole validation split, for the chosen weights
        metrics.update(self.test())
        unit = self.unit
        summary: dict[str, Any] = {
            "recipe": self.recipe.name,
            "step": st.step,
            "chosen_step": st.best_step if st.best_step is not None else st.step,
            **metrics,
            "wall_s": round(st.wall_s, 2),
            f"train_{unit}_per_s": round(st.train_items / st.train_time_s, 2) if st.train_time_s else None,
            "params": sum(p.numel() for p in self.parts.model.parameters()),
            "skipped_steps": st.skipped_steps,
            "processes": self.world,
        }
        if self.main:
            for name, data in self.parts.tasks.items():
                if data.finish is not None:
                    data.finish(self.scored.eval(), name, self.run, summary)
            if self.parts.finish is not None:
                self.parts.finish(self.scored.eval(), self.run, summary)
            self.run.save_metrics(summary)
            write_card(self.run)  # README.md: the Hugging Face model card, from the files just written
        self.acc.wait_for_everyone()
        return summary if self.main else None

    def _discard(self) -> None:
        """Remove what this run wrote into its folder (all of it if the folder is new)."""
        if self.before is None:
            shutil.rmtree(self.run.path, ignore_errors=True)
            return
        for child in self.run.path.iterdir() if self.run.path.is_dir() else ():
            if child not in self.before:
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


def train(recipe: Recipe, cfg: Any, run: RunDir, resume: bool = False) -> Optional[dict[str, Any]]:
    """Train `recipe` with `cfg` into `run`; returns the final metrics (also in metrics.json) on the
    main process, None on the others."""
    return Trainer(recipe, cfg, run, resume).fit()
