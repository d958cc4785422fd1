"""Splits, honestly: the dataset's own validation / test splits when it has them, else fixed, seeded,
class-stratified ones carved from train (`splits.stratified_split`), and a record of which for metrics.json.

`settle_splits({"train": t, ...}, val_fraction=0.1, test_fraction=0.1, seed=0) -> (splits, record)`,
record = {"train": {"size": 900, "from": "train folder, less the carved rows"},
          "validation": {"size": 100, "from": "carved 10% of train, seed 0, stratified"}, "test": {...}}.
"""
from __future__ import annotations

from .splits import stratified_split
from .table import Table
from ..errors import TzooError


def check_classes(splits: dict[str, Table]) -> None:
    """Every class that a validation / test split holds must have training rows."""
    have = splits["train"].class_counts() > 0
    for name, table in splits.items():
        if name == "train" or len(table) == 0:
            continue
        missing = [table.class_names[c] for c in table.labels.unique().tolist() if not have[c]]
        if missing:
            raise TzooError(f"{table.origin or name}: the {name} split holds classes {missing[:5]} that the "
                            "training split lacks; add training examples of them or drop them from the "
                            f"{name} split")


def _carve(train: Table, fraction: float, seed: int, what: str) -> tuple[Table, Table]:
    n = len(train)
    k = max(1, round(n * fraction))
    if n - k < 1:
        raise TzooError(f"{train.origin}: {n} training rows are too few to carve a {what} split from; "
                        f"add rows or give the dataset its own {what} split")
    kept, held = stratified_split(train.labels, k, seed, what)
    origin = f"carved {fraction:.0%} of train, seed {seed}, stratified"
    return train.subset(kept), train.subset(held, origin)


def settle_splits(splits: dict[str, Table], val_fraction: float = 0.1, test_fraction: float = 0.1,
                  seed: int = 0) -> tuple[dict[str, Table], dict[str, dict]]:
    """The splits to train and score on, and where each came from.

    A missing test split (test_fraction > 0) is carved from train first, then a missing validation
    split from what is left; fraction 0 leaves that split out. The same data and seed always give
    the same rows.
    """
    if "train" not in splits:
        raise TzooError(f"the dataset has no train split (it has {sorted(splits)}); add one")
    for what, f in (("validation", val_fraction), ("test", test_fraction)):
        if not 0 <= f < 1:
            raise TzooError(f"{what} fraction must be in [0, 1), got {f}")
    check_classes(splits)
    out = dict(splits)
    carved = []
    for what, fraction in (("test", test_fraction), ("validation", val_fraction)):
        if what not in out and fraction > 0:
            origin = out["train"].origin
            out["train"], out[what] = _carve(out["train"], fraction, seed, what)
            out["train"].origin = origin
            carved.append(what)
    if carved:
        out["train"].origin = f"{out['train'].origin}, less the carved {' and '.join(reversed(carved))} rows"
    order = [s for s in ("train", "validation", "test") if s in out]
    return {s: out[s] for s in order}, {s: {"size": len(out[s]), "from": out[s].origin} for s in order}
