"""What `image-classify` and `audio-classify` share: the data section, the user's splits decoded under a
cache budget and announced, and predict's inputs (files, folders, in-memory objects).

    d = ImageData(dataset="photos/")              # or AudioData; a folder, a parquet folder or a Hub id
    data = load_user_data(d, "image", ImageConverter(64, 3), is_main=True)
    data.splits["train"]                          # a `Decoded`: indexes like the decoded tensor
    data.record                                   # {"train": {"size": .., "from": ..}, ...} for metrics.json
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from ..errors import TzooError
from ..modalities.convert import AudioConverter, ImageConverter
from ..modalities.decoded import Converter, Decoded, decode
from ..modalities.folders import EXTENSIONS
from ..modalities.streams import Stream, step_generator
from ..modalities.table import Modality, Table
from ..modalities.userdata import load_classification


@dataclass
class UserData:
    """A user's labelled dataset and how it is split and held in memory.

    Attributes:
        dataset: a folder (class folders, split folders train/validation/test, or metadata.csv /
            metadata.jsonl with file_name,label), a folder of parquet files, or a Hub id (owner/name).
        label_column: the column (or metadata key) holding the class; "" = ClassLabel / `label`.
        cache_gb: decoded examples kept in memory up to this many gigabytes (all splits together);
            above it they are decoded batch by batch (--loop.workers decode ahead).
        skip_bad: leave unreadable files out (counted in the log) instead of stopping at the first.
        val_fraction: share of train carved out for validation when the data has no validation split.
        test_fraction: share of train carved out for testing when the data has no test split (0 = none).
        split_seed: seed of the carved splits (stratified by class; the same data always gives the same rows).
    """

    dataset: str = ""
    label_column: str = ""
    cache_gb: float = 4.0
    skip_bad: bool = False
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0

    def validate(self) -> None:
        if self.cache_gb < 0:
            raise ValueError(f"cache_gb: must be >= 0, got {self.cache_gb}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {getattr(self, name)}")


@dataclass
class UserSplits:
    """The decoded splits (train, validation, [test]), class names, where each split came from,
    and the lines that tell the user (sizes and origins, conversions, the cache policy)."""

    splits: dict[str, Decoded]
    class_names: list[str]
    record: dict[str, dict]
    lines: list[str]


def load_user_data(d: UserData, modality: Modality, converter: Converter | Callable[[Table], Converter],
                   input_column: str = "", is_main: bool = True) -> UserSplits:
    """Read, split, check and decode the dataset `d` names; print what was done on the main process.
    `converter` may be a function of the training table (to choose settings from the data)."""
    if not d.dataset:
        raise TzooError("--data.dataset: not set; give a folder of class folders, a folder of parquet files, "
                        "or a Hub id (owner/name)")
    tables, _ = load_classification(d.dataset, modality, d.val_fraction, d.test_fraction, d.split_seed,
                                    input_column or None, d.label_column or None)
    if "validation" not in tables:
        raise TzooError(f"--data.val_fraction=0 and {d.dataset} has no validation split; checkpoints are chosen "
                        "on validation: give a fraction > 0 or a validation split")
    val = tables["validation"]  # a seeded order, so the leading rows periodic evaluations score are a fair sample
    tables["validation"] = val.subset(torch.randperm(len(val), generator=step_generator(d.split_seed, Stream.EVAL_PROBE)))
    if not isinstance(converter, (ImageConverter, AudioConverter)):
        converter = converter(tables["train"])
    total = sum(len(t) for t in tables.values())
    splits = {name: decode(t, converter, d.cache_gb * len(t) / total, d.skip_bad) for name, t in tables.items()}
    record = {name: {"size": len(s), "from": s.table.origin} for name, s in splits.items()}
    for name, s in splits.items():
        if s.skipped:
            record[name]["skipped"] = len(s.skipped)
    lines = [describe_splits(record), *note_lines(splits, d.cache_gb)]
    if is_main:
        for line in lines:
            print(line, flush=True)
    return UserSplits(splits, list(tables["train"].class_names), record, lines)


def describe_splits(record: dict[str, dict], unit: str = "") -> str:
    """"data: train 900 (train folder, less the carved ...), validation 100 (carved 10% ...), ..."; `unit`
    names what the sizes count ("chars" for a text corpus)."""
    size = lambda r: f"{r['size']:,} {unit}".rstrip()  # noqa: E731
    return "data: " + ", ".join(f"{name} {size(r)} ({r['from']})" for name, r in record.items())


RESIZED = re.compile(r"resized (\d+)x(\d+) -> (\d+x\d+)( \(centre crop\))?")


def conversion_note(splits: dict[str, Decoded]) -> str:
    """One line for every split together: "converted 40 RGBA -> RGB, 120 resized to 32x32 (from 7 sizes,
    12x9 to 640x480; 30 centre-cropped)", "" when nothing was converted."""
    counts: Counter = Counter()
    for s in splits.values():
        if s.conversions is not None:
            counts.update(s.conversions.counts)
    parts, sizes, crops, target, resized = [], set(), 0, "", 0
    for what, n in counts.items():
        m = RESIZED.fullmatch(what)
        if m is None:
            parts.append(f"{n} {what}")
            continue
        resized, target = resized + n, m.group(3)
        sizes.add((int(m.group(1)), int(m.group(2))))
        crops += n if m.group(4) else 0
    if resized:
        small, large = min(sizes, key=lambda wh: wh[0] * wh[1]), max(sizes, key=lambda wh: wh[0] * wh[1])
        span = f"{small[0]}x{small[1]}" if len(sizes) == 1 else \
            f"{len(sizes)} sizes, {small[0]}x{small[1]} to {large[0]}x{large[1]}"
        parts.append(f"{resized} resized to {target} (from {span}" + (f"; {crops} centre-cropped)" if crops else ")"))
    return "converted " + ", ".join(parts) if parts else ""


def note_lines(splits: dict[str, Decoded], cache_gb: float) -> list[str]:
    """One line of what the converter changed, one per split with unreadable rows left out, and the cache policy."""
    note = conversion_note(splits)
    lines = [f"data: {note}"] if note else []
    lines += [f"data: {name}: skipped {len(s.skipped)} unreadable (first: {s.skipped[0]})"
              for name, s in splits.items() if s.skipped]
    lazy = [name for name, s in splits.items() if s.cached is None]
    if lazy:
        lines.append(f"data: {', '.join(lazy)} over --data.cache_gb={cache_gb:g}: decoded batch by batch "
                     "(--loop.workers=N decode ahead)")
    return lines


def splits_finish(record: dict[str, dict], lines: Sequence[str]) -> Callable[[Any, str, Any, dict], None]:
    """A `finish` that puts the splits' record and the data notes into metrics.json."""
    def finish(model: Any, task: str, run: Any, summary: dict) -> None:
        summary["splits"] = record
        notes = [line.removeprefix("data: ") for line in lines[1:]]
        if notes:
            summary["data_notes"] = notes
    return finish


# -- predict's inputs -----------------------------------------------------------------------
def gather_inputs(inputs: Iterable[Any], modality: Modality) -> list[tuple[str, Any]]:
    """(name, input) pairs: a folder gives each of its files of the modality (sorted), a path its file,
    any other object (PIL image, array, tensor, (waveform, rate)) itself, named `<input N>`."""
    out: list[tuple[str, Any]] = []
    for n, x in enumerate(inputs):
        if isinstance(x, (str, Path)):
            path = Path(x).expanduser()
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS[modality]
                               and not any(q.startswith(".") for q in p.relative_to(path).parts))
                if not files:
                    raise TzooError(f"{path}: no {modality} files ({', '.join(sorted(EXTENSIONS[modality]))}) in it")
                out += [(str(p), p) for p in files]
            elif not path.is_file():
                raise TzooError(f"{path}: no such file or folder")
            else:
                out.append((str(x), path))
        else:
            out.append((f"<input {n}>", x))
    if not out:
        raise TzooError("predict needs at least one input")
    return out

