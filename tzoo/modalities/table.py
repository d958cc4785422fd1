"""A dataset as a random-access table of (raw input, label) rows, whatever it came from.

A `Table` holds one split: `rows` (an adapter that gives the raw bytes and a printable name of
row i: files on disk, or records of a Hugging Face dataset), integer `labels`, `class_names`, and
where the split came from (`origin`, for metrics.json). Tables are cheap to subset by index, so
carving a validation split never copies or decodes anything. Decoding is `decoded.py`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence

import torch
from torch import Tensor

from ..errors import TzooError

Modality = Literal["image", "audio"]


class Rows(Protocol):
    """Random access to raw examples: the encoded bytes of row i and a name for messages."""

    def __len__(self) -> int: ...

    def read(self, i: int) -> bytes: ...

    def name(self, i: int) -> str: ...


@dataclass(frozen=True)
class FileRows:
    """Rows that are files on disk."""

    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, i: int) -> bytes:
        try:
            return self.paths[i].read_bytes()
        except OSError as e:
            raise TzooError(f"{self.paths[i]}: cannot read ({e.strerror or e}); restore or remove the file") from None

    def name(self, i: int) -> str:
        return str(self.paths[i])


@dataclass(frozen=True)
class RecordRows:
    """Rows of a Hugging Face dataset column cast to Image/Audio(decode=False): {"bytes", "path"} records."""

    dataset: Any  # datasets.Dataset
    column: str
    where: str  # the source (folder or Hub id) and split, for messages

    def __len__(self) -> int:
        return len(self.dataset)

    def read(self, i: int) -> bytes:
        record = self.dataset[int(i)][self.column]
        if record and record.get("bytes"):
            return record["bytes"]
        if record and record.get("path") and Path(record["path"]).is_file():
            return Path(record["path"]).read_bytes()
        raise TzooError(f"{self.name(i)}: the {self.column!r} record holds no bytes; fix or drop that row")

    def name(self, i: int) -> str:
        return f"{self.where} row {int(i)}"


@dataclass(frozen=True)
class SubsetRows:
    """Some rows of another `Rows`, by index."""

    base: Rows
    index: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.index)

    def read(self, i: int) -> bytes:
        return self.base.read(self.index[i])

    def name(self, i: int) -> str:
        return self.base.name(self.index[i])


@dataclass
class Table:
    """One split of a classification dataset: rows, (N,) long labels, class names, and its origin.

    Attributes:
        modality: "image" or "audio"; says which decoder the rows need.
        rows: random access to each row's raw bytes (`Rows`).
        labels: (N,) long, indices into `class_names`.
        class_names: label i's name (the training split's names, shared by every split).
        origin: where the split came from, e.g. "train folder", "carved 10% of train, seed 0, stratified".
    """

    modality: Modality
    rows: Rows
    labels: Tensor
    class_names: list[str]
    origin: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    def name(self, i: int) -> str:
        return self.rows.name(i)

    def subset(self, index: Sequence[int] | Tensor, origin: str | None = None) -> "Table":
        """The rows at `index` (in that order), nothing decoded or copied."""
        idx = tuple(int(i) for i in (index.tolist() if isinstance(index, Tensor) else index))
        return Table(self.modality, SubsetRows(self.rows, idx), self.labels[list(idx)].clone(),
                     self.class_names, self.origin if origin is None else origin)

    def class_counts(self) -> Tensor:
        """(K,) rows per class."""
        return torch.bincount(self.labels, minlength=len(self.class_names))
