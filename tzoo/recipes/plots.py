"""Plots written into the run directory (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..storage import atomic_write  # noqa: E402


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


NAMES = {"loss": "training", "val_loss": "validation", "test_loss": "test"}


def _label(key: str) -> str:
    """The legend of a loss key: "training", "validation", "char-lm/validation", ..."""
    head, _, tail = key.rpartition("/")
    name = NAMES.get(tail, tail)
    return f"{head}/{name}" if head else name


def loss_series(log: Sequence[dict]) -> dict[str, list[tuple[int, float]]]:
    """The lines loss.png draws, {label: [(step, value), ...]}: "training" from every record's `loss`
    (the mean training loss since the previous record; one every --loop.log_every steps), then each
    evaluation loss (`val_loss` as "validation", `test_loss`, a multi-task run's `task/val_loss`).
    An evaluation's `train_loss` (the loss on a sample of training data) stays in log.jsonl only: the
    one training line is the loss the optimizer saw."""
    keys = sorted({k for r in log for k, v in r.items() if k.endswith("loss") and not k.endswith("train_loss")
                   and isinstance(v, (int, float))}, key=lambda k: (k != "loss", k))
    return {_label(k): [(r["step"], r[k]) for r in log if isinstance(r.get(k), (int, float))] for k in keys}


def loss_curves(log: Sequence[dict], path: Path) -> None:
    """loss.png: the training loss as a line, the evaluation losses as lines with markers, against step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, pts in loss_series(log).items():
        style = {"lw": 1.0} if label == "training" else {"marker": "o", "markersize": 3}
        ax.plot(*zip(*pts), label=label, **style)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def confusion_matrix(cm, class_names: Sequence[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (true class x predicted class) with counts in the cells."""
    import numpy as np

    cm = np.asarray(cm, dtype=float)
    rates = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    _save(fig, path)


def attention_overlays(images, maps, titles: Sequence[str], path: Path) -> None:
    """Each image beside itself overlaid with a (gh, gw) attention map (upsampled to the image).

    Args:
        images: (B, 3, H, W) uint8.
        maps: (B, gh, gw) attention weights.
    """
    import torch.nn.functional as F

    b = images.shape[0]
    up = F.interpolate(maps[:, None].float(), size=images.shape[-2:], mode="nearest")[:, 0]
    fig, axes = plt.subplots(2, b, figsize=(1.6 * b, 3.4), squeeze=False)  # (2, b) even for one image
    for i in range(b):
        img = images[i].permute(1, 2, 0).cpu().numpy()
        axes[0, i].imshow(img)
        axes[0, i].set_title(titles[i], fontsize=7)
        axes[1, i].imshow(img)
        axes[1, i].imshow(up[i].cpu().numpy(), cmap="inferno", alpha=0.6)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("what the pooled token attends to (last block, mean over heads)", fontsize=8)
    _save(fig, path)


def metric_curve(log: Sequence[dict], key: str, path: Path, chosen_step=None, title: str = "") -> None:
    """One logged validation metric (log.jsonl records with `key`) against step; the chosen checkpoint marked."""
    pts = [(r["step"], r[key]) for r in log if isinstance(r.get(key), (int, float))]
    fig, ax = plt.subplots(figsize=(6, 4))
    if pts:
        ax.plot(*zip(*pts), marker="o", markersize=3, label=key)
    if chosen_step is not None:
        ax.axvline(chosen_step, color="tab:green", lw=0.8, ls="--", label=f"chosen (step {chosen_step})")
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    if pts or chosen_step is not None:
        ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)


def returns_vs_targets(table: Sequence[dict], path: Path, ref: tuple = (None, None), title: str = "") -> None:
    """Achieved return (mean +- std over episodes) against the target return each rollout was given.

    Args:
        table: rows {"target", "return_mean", "return_std"}.
        ref: (ref_min_score, ref_max_score) drawn as horizontal lines when known.
    """
    rows = sorted(table, key=lambda r: r["target"])
    x = [r["target"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(x, [r["return_mean"] for r in rows], yerr=[r["return_std"] for r in rows], marker="o",
                capsize=3, label="achieved")
    ax.plot(x, x, ls="--", color="gray", label="achieved = target")
    for value, name in zip(ref, ("random", "expert")):
        if value is not None:
            ax.axhline(value, color="tab:red" if name == "random" else "tab:green", lw=0.8, label=name)
    ax.set_xlabel("target return")
    ax.set_ylabel("achieved return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)


def accuracy_table(acc: dict, path: Path, title: str = "") -> None:
    """A heat-map table: rows are questions, columns conditions, cells exact-match accuracy in %.

    Args:
        acc: {question: {condition: fraction}}; a missing cell is left blank.
    """
    import numpy as np

    rows = list(acc)
    known = ["both", "image_only", "audio_only"]  # av-digits' conditions first; others in first-seen order
    cols = sorted(dict.fromkeys(c for r in acc.values() for c in r), key=lambda c: known.index(c) if c in known else 3)
    grid = np.array([[acc[r].get(c, np.nan) for c in cols] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(cols), 0.8 + 0.45 * len(rows)))
    ax.imshow(np.nan_to_num(grid, nan=0.0), cmap="Greens", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if grid[i, j] == grid[i, j]:
                ax.text(j, i, f"{100 * grid[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] > 0.6 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)
