"""Text corpora from a user's data: a text file, a folder of .txt files, a parquet folder or a Hub id.

`read_text_source(source, text_column=None, val_fraction=0.1) -> TextSplits(train, validation, record)`.
A file is read as UTF-8 (`text.read_corpus`); a folder's *.txt files (sorted, any depth) are joined with
a newline; a parquet folder / Hub id gives the rows of its text column (`text_column`, else a column
named "text", else its only string column) joined with newlines. Validation is the dataset's own
validation split when it has one, else the last `val_fraction` of the characters (`text.split_text`).
`record` says which, for metrics.json: {"train": {"size": chars, "from": ...}, "validation": {...}}.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import TzooError
from .text import read_corpus, split_text


@dataclass
class TextSplits:
    """Training and validation text, and where each came from (sizes in characters)."""

    train: str
    validation: str
    record: dict


def _text_column(ds, name: Optional[str], where: str) -> str:
    import datasets

    strings = [k for k, f in ds.features.items()
               if isinstance(f, datasets.Value) and f.dtype in ("string", "large_string")]
    if name is not None:
        if name not in strings:
            raise TzooError(f"{where}: {name!r} is not a text column (text columns: {strings or 'none'}); "
                            "pass text_column=NAME naming one")
        return name
    if "text" in strings or len(strings) == 1:
        return "text" if "text" in strings else strings[0]
    if not strings:
        raise TzooError(f"{where}: no text column among {dict(ds.features)}; give a dataset with a string column")
    raise TzooError(f"{where}: several text columns {strings}; pass text_column=NAME to choose one")


def _join(ds, column: str, where: str) -> str:
    text = "\n".join(t for t in ds[column] if t)
    if not text.strip():
        raise TzooError(f"{where}: column {column!r} holds no text; give a dataset with some")
    return text


def _from_dataset(source: str, text_column: Optional[str], val_fraction: float) -> TextSplits:
    from .hub import open_dataset

    splits = open_dataset(source)
    if "train" not in splits:
        raise TzooError(f"{source}: no train split (splits: {sorted(splits)}); name the files train-*.parquet")
    column = _text_column(splits["train"], text_column, f"{source} train")
    train = _join(splits["train"], column, f"{source} train")
    if "validation" in splits:
        _text_column(splits["validation"], column, f"{source} validation")
        val = _join(splits["validation"], column, f"{source} validation")
        return TextSplits(train, val, _record(train, val, f"train split of {source}", f"validation split of {source}"))
    return _carved(train, val_fraction, f"train split of {source}")


def _carved(text: str, val_fraction: float, origin: str) -> TextSplits:
    if not 0 < val_fraction < 1:
        raise TzooError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = split_text(text, val_fraction)
    return TextSplits(train, val, _record(train, val, f"first {1 - val_fraction:.0%} of the {origin}",
                                          f"last {val_fraction:.0%} of the {origin}"))


def _record(train: str, val: str, train_from: str, val_from: str) -> dict:
    return {"train": {"size": len(train), "from": train_from}, "validation": {"size": len(val), "from": val_from}}


def read_text_source(source: str | Path, text_column: Optional[str] = None, val_fraction: float = 0.1) -> TextSplits:
    """Train / validation text from a file, a folder of .txt files, a parquet folder or a Hub id."""
    path = Path(source).expanduser()
    if path.is_file():
        return _carved(read_corpus(path), val_fraction, f"text of {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if files:
            return _carved("\n".join(read_corpus(p) for p in files), val_fraction,
                           f"{len(files)} .txt files of {path}")
        if not any(path.rglob("*.parquet")):
            raise TzooError(f"{path}: no .txt or .parquet files; pass a text file, a folder of .txt files, "
                            "a parquet folder or a Hub id")
    elif "/" not in str(source) or str(source).startswith((".", "/", "~")):
        raise TzooError(f"{source}: no such file or folder (and not a Hub id like owner/name); pass a text "
                        "file, a folder of .txt files, a parquet folder or a Hub id")
    return _from_dataset(str(source), text_column, val_fraction)
