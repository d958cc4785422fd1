"""Image / audio classification datasets through Hugging Face `datasets`: a folder of parquet files or
a Hub id (from the local cache when offline), read into `Table`s without decoding anything.

`open_dataset(source)` -> {split: datasets.Dataset}: `source` is a folder holding *.parquet files
(splits from the file names, the Hub's way: train-*.parquet, data/test-*.parquet, ...) or a Hub id.
`read_hub(source, "image" | "audio", input_column=None, label_column=None) -> {split: Table}`: the
input column is the first Image (Audio) feature unless named; the label column the first ClassLabel
unless named (a named integer or string column works too: class names are its sorted values).
Rows stay encoded (Image/Audio(decode=False)), so audio needs no TorchCodec/FFmpeg: the WAV bytes go to
the project's own decoder. Split names valid / val / dev count as validation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import TzooError
from .cifar import _first_unreadable
from .folders import SPLIT_ALIASES, _sort_names
from .table import Modality, RecordRows, Table

INPUT_FEATURE = {"image": "Image", "audio": "Audio"}


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not any(q.startswith(".") for q in p.parts))


def open_dataset(source: str | Path) -> dict[str, Any]:
    """{split name (train / validation / test / other): datasets.Dataset} of a parquet folder or Hub id."""
    import datasets

    folder = Path(source).expanduser()
    local = folder.is_dir()
    if local:
        files = _parquet_files(folder)
        if not files:
            raise TzooError(f"{folder}: no *.parquet files; pass a folder of parquet files or a Hub id")
        bad = _first_unreadable(files)
        if bad is not None:
            raise TzooError(f"{bad}: not a readable parquet file (empty, truncated or another format); "
                            "replace it or remove it")
    try:
        loaded = (datasets.load_dataset("parquet", data_dir=str(folder)) if local
                  else datasets.load_dataset(str(source)))
    except Exception as e:  # datasets raises many types: offline, not found, bad data
        reason = " ".join(str(e).split())[:160]
        if local:
            raise TzooError(f"{folder}: could not load the parquet files ({reason})") from None
        raise TzooError(f"{source}: could not load this Hub dataset ({reason}); when offline it must be in the "
                        "Hugging Face cache (load it once online), or pass a local folder instead") from None
    return {SPLIT_ALIASES.get(name.lower(), name): ds for name, ds in loaded.items()}


def _input_column(ds, modality: Modality, name: Optional[str], where: str) -> str:
    want = INPUT_FEATURE[modality]
    if name is None:
        found = [k for k, f in ds.features.items() if type(f).__name__ == want]
        if not found:
            raise TzooError(f"{where}: no {want} column among {dict(ds.features)}; pass input_column=NAME "
                            f"naming a column of {want} feature type")
        return found[0]
    if name not in ds.features:
        raise TzooError(f"{where}: no column {name!r} (columns: {list(ds.features)}); name one of them")
    if type(ds.features[name]).__name__ != want:
        raise TzooError(f"{where}: column {name!r} is {ds.features[name]}, not an {want} column; "
                        f"name a column of {want} feature type")
    return name


def _label_column(ds, name: Optional[str], where: str) -> str:
    import datasets

    if name is None:
        found = [k for k, f in ds.features.items() if isinstance(f, datasets.ClassLabel)]
        if not found:
            raise TzooError(f"{where}: no ClassLabel column among {list(ds.features)}; pass label_column=NAME")
        return found[0]
    if name not in ds.features:
        raise TzooError(f"{where}: no column {name!r} (columns: {list(ds.features)}); name one of them")
    f = ds.features[name]
    if not isinstance(f, datasets.ClassLabel) and not (
            isinstance(f, datasets.Value) and (f.dtype.startswith("int") or f.dtype in ("string", "large_string"))):
        raise TzooError(f"{where}: column {name!r} is {f}, not a ClassLabel, integer or string column; "
                        "name the column that holds the class")
    return name


def _class_names(train, label: str) -> list[str]:
    import datasets

    f = train.features[label]
    if isinstance(f, datasets.ClassLabel):
        return list(f.names)
    return _sort_names({str(v) for v in train[label]})


def _labels(ds, label: str, names: list[str], where: str) -> torch.Tensor:
    import datasets

    values = list(ds[label])
    if isinstance(ds.features[label], datasets.ClassLabel):
        bad = [i for i, v in enumerate(values) if v is None or not 0 <= v < len(names)]
        if bad:
            raise TzooError(f"{where} row {bad[0]}: {len(bad)} rows have no valid label (e.g. -1 for a hidden "
                            "test label); use a split with labels")
        return torch.tensor(values, dtype=torch.long)
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in values} - set(index))
    if unknown:
        raise TzooError(f"{where}: the split holds classes {unknown[:5]} that the training split lacks; "
                        "add training examples of them or drop them")
    return torch.tensor([index[str(v)] for v in values], dtype=torch.long)


def read_hub(source: str | Path, modality: Modality, input_column: Optional[str] = None,
             label_column: Optional[str] = None) -> dict[str, Table]:
    """The splits of a parquet folder or Hub id as `Table`s (train, validation, test when present)."""
    import datasets

    splits = open_dataset(source)
    if "train" not in splits:
        raise TzooError(f"{source}: no train split (splits: {sorted(splits)}); name the files train-*.parquet")
    train = splits["train"]
    col = _input_column(train, modality, input_column, f"{source} train")
    label = _label_column(train, label_column, f"{source} train")
    names = _class_names(train, label)
    if len(names) < 2:
        raise TzooError(f"{source}: only {len(names)} class in column {label!r}; classification needs at least two")
    cast = datasets.Image(decode=False) if modality == "image" else datasets.Audio(decode=False)
    out = {}
    for split in [s for s in ("train", "validation", "test") if s in splits]:
        where = f"{source} {split}"
        ds = splits[split]
        _input_column(ds, modality, col, where)
        _label_column(ds, label, where)
        ds = ds.cast_column(col, cast).select_columns([col, label])
        out[split] = Table(modality, RecordRows(ds, col, where), _labels(ds, label, names, where), names,
                           f"{split} split of {source}")
    return out
