"""A user's classification dataset, whatever its source: the one entry point recipes call.

    splits, record = load_classification("DIR or owner/name", "image", val_fraction=0.1, test_fraction=0.1)
    data = {s: decode(t, ImageConverter(32, 3), cache_gb=4.0, skip_bad=False) for s, t in splits.items()}
    data["train"].batch(rows)   # (B, 3, 32, 32) uint8; data["train"].labels; data["train"].note()

Sources: a folder in the imagefolder / audiofolder layouts (`folders.py`), a folder of parquet files or
a Hub id (`hub.py`). Splits: the data's own, else carved (`carve.py`); `record` goes to metrics.json.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import TzooError
from .carve import settle_splits
from .folders import read_folder
from .hub import read_hub
from .table import Modality, Table


def read_classification(source: str | Path, modality: Modality, input_column: Optional[str] = None,
                        label_column: Optional[str] = None) -> dict[str, Table]:
    """The splits a source holds, undecoded: folder layout, parquet folder, or Hub id."""
    if modality not in ("image", "audio"):
        raise TzooError(f"modality must be image or audio, got {modality!r}")
    path = Path(source).expanduser()
    if path.is_dir():
        if any(path.rglob("*.parquet")):
            return read_hub(path, modality, input_column, label_column)
        return read_folder(path, modality, label_column or "label")
    if path.exists() or "/" not in str(source) or str(source).startswith((".", "/", "~")):
        raise TzooError(f"{source}: not a folder (and not a Hub id like owner/name); pass a folder of class "
                        "folders, a folder of parquet files, or a Hub id")
    return read_hub(str(source), modality, input_column, label_column)


def load_classification(source: str | Path, modality: Modality, val_fraction: float = 0.1,
                        test_fraction: float = 0.1, seed: int = 0, input_column: Optional[str] = None,
                        label_column: Optional[str] = None) -> tuple[dict[str, Table], dict[str, dict]]:
    """(train / validation / test tables, the record of where each came from)."""
    tables = read_classification(source, modality, input_column, label_column)
    return settle_splits(tables, val_fraction, test_fraction, seed)
