"""Which task each micro-batch of a multi-task run trains: a pure function of (seed, index).

Every process and every resumed session draws the same task for the same micro-batch index,
and each task reads its own batches in order: its k-th draw trains on its source's batch k, so a
task drawn N times sees exactly the batches a single-task run of N steps would.
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Any, Mapping, Sequence

from ..modalities.streams import Stream, step_seed
from .base import BatchSource

_CHUNK = 4096


class TaskSchedule:
    """Task of micro-batch `index`, drawn with probabilities proportional to `weights`."""

    def __init__(self, names: Sequence[str], weights: Sequence[float], seed: int) -> None:
        if len(names) != len(weights) or not names:
            raise ValueError("one weight per task, and at least one task")
        if any(w <= 0 for w in weights):
            raise ValueError(f"task weights must be > 0, got {list(weights)}")
        self.names, self.seed = list(names), seed
        total = float(sum(weights))
        self.edges = list(accumulate(w / total for w in weights))[:-1]
        self.tasks: list[int] = []  # task of each index drawn so far
        self.ordinals: list[int] = []  # how many earlier indices drew the same task
        self.counts = [0] * len(names)

    def _grow(self, stop: int) -> None:
        while len(self.tasks) < stop:
            for i in range(len(self.tasks), len(self.tasks) + _CHUNK):
                u = (step_seed(self.seed, Stream.TASKS, i) >> 11) / float(1 << 52)
                t = bisect_right(self.edges, u)
                self.tasks.append(t)
                self.ordinals.append(self.counts[t])
                self.counts[t] += 1

    def at(self, index: int) -> tuple[str, int]:
        """(task name, that task's own batch index) of micro-batch `index`."""
        self._grow(index + 1)
        return self.names[self.tasks[index]], self.ordinals[index]

    def draws(self, stop: int) -> dict[str, int]:
        """How many of the micro-batches 0 .. stop-1 each task trains."""
        self._grow(stop)
        out = dict.fromkeys(self.names, 0)
        for t in self.tasks[:stop]:
            out[self.names[t]] += 1
        return out


class SpreadSchedule:
    """Task of micro-batch `index` when every task trains an exact number of batches, spread evenly:
    task t's k-th batch comes at about the fraction (k + 1/2) / counts[t] of the run, so each task
    goes through the run's learning-rate schedule as it would alone (ties: the earlier task first).
    A pure function of (counts, index); the same interface as TaskSchedule."""

    def __init__(self, names: Sequence[str], counts: Sequence[int]) -> None:
        if len(names) != len(counts) or not names or any(c < 1 for c in counts):
            raise ValueError(f"one count >= 1 per task, got {list(counts)}")
        self.names = list(names)
        events = sorted(((2 * k + 1) / (2 * c), t, k) for t, c in enumerate(counts) for k in range(c))
        self.tasks = [t for _, t, _ in events]
        self.ordinals = [k for _, _, k in events]

    def at(self, index: int) -> tuple[str, int]:
        """(task name, that task's own batch index) of micro-batch `index`."""
        if index >= len(self.tasks):
            raise IndexError(f"micro-batch {index}: the task counts add up to {len(self.tasks)}")
        return self.names[self.tasks[index]], self.ordinals[index]

    def draws(self, stop: int) -> dict[str, int]:
        """How many of the micro-batches 0 .. stop-1 each task trains."""
        out = dict.fromkeys(self.names, 0)
        for t in self.tasks[:stop]:
            out[self.names[t]] += 1
        return out


class MixedBatches:
    """The training batches of several tasks, interleaved by a TaskSchedule; each batch carries
    its task's name under "task"."""

    unit = "items"  # each task counts its own (tokens, images, clips, steps, examples)

    def __init__(self, sources: Mapping[str, BatchSource], schedule: "TaskSchedule | SpreadSchedule") -> None:
        self.sources, self.schedule = dict(sources), schedule

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Any]:
        name, k = self.schedule.at(index)
        return {**self.sources[name].batch(k, rank, world), "task": name}

    def items(self, batch: dict[str, Any]) -> int:
        return self.sources[batch["task"]].items(batch)
