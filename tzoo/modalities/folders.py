"""`imagefolder` / `audiofolder` datasets in the Hugging Face `datasets` layouts, read into `Table`s.

Layouts (DIR is the folder given; the same rules hold inside each split folder):
  DIR/<class>/*                        class folders; the whole folder is the training split
  DIR/train/<class>/*  [DIR/validation/<class>/*]  [DIR/test/<class>/*]   split folders
  DIR/metadata.csv or DIR/metadata.jsonl with `file_name` and `label` (also DIR/<split>/metadata.*)
Split folder names: train; validation (or valid, val, dev); test. Images: .png .jpg .jpeg .bmp .gif
.webp .tif .tiff; audio: .wav. Hidden files and other extensions are ignored. Class names are the
training split's sorted folder names or sorted label strings (numerically when all are integers);
label i of every split means class_names[i].

`read_folder(DIR, "image" | "audio") -> {"train": Table, ["validation": Table], ["test": Table]}`.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from ..errors import TzooError
from .table import FileRows, Modality, Table

EXTENSIONS = {"image": {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}, "audio": {".wav"}}
SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation",
                 "dev": "validation", "test": "test"}
METADATA = ("metadata.csv", "metadata.jsonl")


def _visible(path: Path | str) -> bool:
    return not Path(path).name.startswith((".", "__"))


def _media(folder: Path, modality: Modality) -> list[Path]:
    """Files of the modality under `folder` (any depth), sorted."""
    ext = EXTENSIONS[modality]
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ext
                  and all(_visible(q) for q in p.relative_to(folder).parts))


def split_folders(root: Path) -> dict[str, Path]:
    """{"train": path, ...} for the split folders under `root`, {} when `root` has none."""
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        split = SPLIT_ALIASES.get(child.name.lower())
        if split is None:
            continue
        if split in found:
            raise TzooError(f"{root}: both {found[split].name}/ and {child.name}/ name the {split} split; keep one")
        found[split] = child
    if found and "train" not in found:
        raise TzooError(f"{root}: split folders {sorted(p.name for p in found.values())} but no train/; "
                        "add DIR/train/<class>/ folders")
    return found


def _sort_names(names: set[str]) -> list[str]:
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _metadata_rows(path: Path, label_key: str) -> list[tuple[int, dict]]:
    """(row number, record) of a metadata.csv (row 1 = first data row) or metadata.jsonl (line number)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TzooError(f"{path}: cannot read ({e}); give a UTF-8 {path.name}") from None
    if path.suffix == ".csv":
        rows = list(enumerate(csv.DictReader(text.splitlines()), start=1))
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise TzooError(f"{path}: line {n} is not JSON ({e.msg}); fix that line") from None
    if not rows:
        raise TzooError(f"{path}: no rows; list one file_name,{label_key} per example")
    for n, row in rows:
        if not isinstance(row, dict) or "file_name" not in row or label_key not in row:
            raise TzooError(f"{path}: row {n} lacks 'file_name' or '{label_key}'; every row needs both "
                            f"(columns: file_name,{label_key})")
    return rows


def _from_metadata(folder: Path, meta: Path, modality: Modality, label_key: str) -> list[tuple[Path, str]]:
    items = []
    for n, row in _metadata_rows(meta, label_key):
        file = folder / str(row["file_name"])
        label = row[label_key]
        if label is None or str(label).strip() == "":
            raise TzooError(f"{meta}: row {n} ({row['file_name']}) has an empty {label_key}; give every row a label")
        if not file.is_file():
            raise TzooError(f"{meta}: row {n} names {row['file_name']!r}, which does not exist in {folder}; "
                            "fix the file_name or add the file")
        if file.suffix.lower() not in EXTENSIONS[modality]:
            raise TzooError(f"{meta}: row {n} names {row['file_name']!r}, not a {modality} file "
                            f"({', '.join(sorted(EXTENSIONS[modality]))})")
        items.append((file, str(label).strip()))
    return items


def _from_class_folders(folder: Path, modality: Modality) -> list[tuple[Path, str]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS[modality]]
    if loose:
        raise TzooError(f"{loose[0]}: a {modality} file outside any class folder; move it into "
                        f"{folder}/<class>/ or list the files with labels in {folder}/metadata.csv")
    if not classes:
        raise TzooError(f"{folder}: empty; put {modality} files in {folder}/<class>/ folders "
                        "(or list them in metadata.csv with file_name,label)")
    items = []
    for c in classes:
        files = _media(c, modality)
        if not files:
            raise TzooError(f"{c}: class folder holds no {modality} files "
                            f"({', '.join(sorted(EXTENSIONS[modality]))}); add some or remove the folder")
        items += [(f, c.name) for f in files]
    return items


def read_split(folder: Path, modality: Modality, label_key: str = "label") -> list[tuple[Path, str]]:
    """(file, label string) of one split folder: from its metadata file if it has one, else class folders."""
    metas = [folder / m for m in METADATA if (folder / m).is_file()]
    if len(metas) > 1:
        raise TzooError(f"{folder}: both metadata.csv and metadata.jsonl; keep one")
    if metas:
        return _from_metadata(folder, metas[0], modality, label_key)
    return _from_class_folders(folder, modality)


def _tables(raw: dict[str, list[tuple[Path, str]]], modality: Modality, folders: dict[str, Path],
            origins: dict[str, str]) -> dict[str, Table]:
    names = _sort_names({label for _, label in raw["train"]})
    if len(names) < 2:
        raise TzooError(f"{folders['train']}: only one class ({names[0]!r}) in the training split; "
                        "classification needs at least two classes")
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for split, items in raw.items():
        unknown = sorted({label for _, label in items} - set(index))
        if unknown:
            raise TzooError(f"{folders[split]}: classes {unknown[:5]} are not in the training split "
                            f"(classes {names[:5]}{'...' if len(names) > 5 else ''}); add training examples "
                            "of them or remove them")
        labels = torch.tensor([index[label] for _, label in items], dtype=torch.long)
        out[split] = Table(modality, FileRows(tuple(f for f, _ in items)), labels, names, origins[split])
    return out


def read_folder(root: str | Path, modality: Modality, label_key: str = "label") -> dict[str, Table]:
    """The splits a folder holds, as `Table`s (see the module docstring for the layouts)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TzooError(f"{root}: no such folder; pass a folder of {modality} class folders")
    folders = split_folders(root) or {"train": root}
    raw = {split: read_split(folder, modality, label_key) for split, folder in folders.items()}
    origins = {split: f"{split} folder" if folder != root else "the whole folder" for split, folder in folders.items()}
    return _tables(raw, modality, folders, origins)
