"""Pieces every classification task shares: validation / test scoring, final plots, prediction results."""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

import torch

from ..tasks import TzooModel, classification_metrics, classify, top_k
from .base import BatchSource, TaskData
from .plots import confusion_matrix
from .rundir import RunDir

# (leading examples to score or None for all, rank, world) -> batches of one split
SplitBatches = Callable[[Optional[int], int, int], Iterable[dict]]
CLASSES = "classes.json"


def classifier_data(train: BatchSource, val: SplitBatches, test: SplitBatches, class_names: Sequence[str],
                    periodic: Optional[int],
                    extra_finish: Optional[Callable[[TzooModel, str, RunDir, dict], None]] = None) -> TaskData:
    """A classification task's data: checkpoints chosen by validation accuracy (`periodic` leading
    validation examples per process at each periodic evaluation, None = all of them), the test split scored
    once at the end, then a confusion-matrix PNG of the test (plus whatever `extra_finish` draws)."""
    n = len(class_names)

    def validate(m: TzooModel, task: str, final: bool, rank: int, world: int):
        rows = None if final or periodic is None else periodic * world  # the same examples for any world
        return classify(m, val(rows, rank, world), n, _device(m), task)

    def score_test(m: TzooModel, task: str, rank: int, world: int):
        return classify(m, test(None, rank, world), n, _device(m), task)

    def finish(m: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        acc = summary.get("test_acc", float("nan"))
        confusion_matrix(summary["test_confusion"], class_names, run / "confusion.png",
                         title=f"test accuracy {acc:.2%} ({summary.get('test_examples')} examples)")
        if extra_finish is not None:
            extra_finish(m, task, run, summary)

    return TaskData(train, validate, lambda sums: classification_metrics(sums, class_names, "val"),
                    monitor="val_acc", higher_is_better=True, test=score_test,
                    summarize_test=lambda sums: classification_metrics(sums, class_names, "test"), finish=finish)


def _device(m: TzooModel) -> torch.device:
    return next(m.parameters()).device


def save_class_names(run: RunDir, names: Sequence[str], is_main: bool) -> None:
    """class names as a run file, so even an unfinished run can predict."""
    if is_main:
        run.save_json(CLASSES, list(names))


def load_class_names(run: RunDir) -> list[str]:
    """The run's class names: classes.json, or for runs that predate it, metrics.json's per-class table."""
    from ..errors import TzooError

    if (run / CLASSES).is_file():
        names = run.load_json(CLASSES, "class names")
        if isinstance(names, list) and names and all(isinstance(x, str) for x in names):
            return names
        raise TzooError(f"{run / CLASSES}: expected a non-empty JSON list of class names")
    if (run / "metrics.json").is_file():
        metrics = run.load_json("metrics.json", "run metrics")
        per_class = metrics.get("test_per_class_acc") if isinstance(metrics, dict) else None
        if isinstance(per_class, dict) and per_class:
            return list(per_class)
    raise TzooError(f"{run / CLASSES}: not found; the run predates class-name files and did not finish; "
                    "retrain it")


def ranked(inputs: Sequence[str], logits: torch.Tensor, names: Sequence[str], k: int) -> list[dict]:
    """One result per input: {"input": name, "top": [(class, probability), ...]} (at most `k` classes)."""
    from ..errors import TzooError

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise TzooError(f"--top-k={k!r}: give a whole number of classes, at least 1")
    return [{"input": str(i), "top": r} for i, r in zip(inputs, top_k(logits, names, k))]


def print_top_k(results: Sequence[dict]) -> None:
    """One block per input: its name, then `class  probability` lines."""
    for r in results:
        print(r["input"])
        for cls, p in r["top"]:
            print(f"  {cls:<12} {p:.4f}")
