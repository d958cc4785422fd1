"""Pieces every classification recipe shares: evaluation, final plots, prediction printout."""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

from ..tasks import TzooModel, classification_metrics, classify
from .base import BatchSource, Parts
from .plots import confusion_matrix
from .rundir import RunDir

EvalBatches = Callable[[bool, int, int], Iterable[dict]]  # (final, rank, world) -> batches


def classifier_parts(model: TzooModel, train: BatchSource, eval_batches: EvalBatches,
                     class_names: Sequence[str],
                     extra_finish: Optional[Callable[[TzooModel, RunDir, dict], None]] = None) -> Parts:
    """Parts for the training loop: periodic and final evaluation by `classify`, best checkpoint by
    test accuracy, and at the end a confusion-matrix PNG (plus whatever `extra_finish` draws)."""

    def evaluate(m: TzooModel, final: bool, rank: int, world: int):
        device = next(m.parameters()).device
        return classify(m, eval_batches(final, rank, world), len(class_names), device)

    def finish(m: TzooModel, run: RunDir, summary: dict) -> None:
        acc = summary.get("test_acc", float("nan"))
        confusion_matrix(summary["test_confusion"], class_names, run / "confusion.png",
                         title=f"test accuracy {acc:.2%} ({summary.get('test_examples')} examples)")
        if extra_finish is not None:
            extra_finish(m, run, summary)

    return Parts(model, train, evaluate, lambda sums: classification_metrics(sums, class_names),
                 monitor="test_acc", higher_is_better=True, finish=finish)


def print_top_k(names: Sequence[str], results: Sequence[Sequence[tuple[str, float]]]) -> None:
    """One block per input: its name, then `class  probability` lines."""
    for name, ranked in zip(names, results):
        print(name)
        for cls, p in ranked:
            print(f"  {cls:<12} {p:.4f}")
