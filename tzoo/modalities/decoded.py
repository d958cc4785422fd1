"""Decoding a `Table`, as a cache policy: all rows up front when they fit in `cache_gb`, else by index.

`decode(table, converter, cache_gb, skip_bad)` runs one pass over the rows (which checks every file
and counts conversions for the note line), drops unreadable rows when `skip_bad`, and keeps the
decoded rows if they fit: images as one uint8 (N, C, H, W) tensor, audio as one flat float32 tensor
with offsets. Either way `Decoded[i]`, `Decoded[rows]` and `Decoded[a:b]` index it like the decoded
tensor would, so a batch stays a pure function of the step whatever the policy, and
`ImageBatches(decoded, decoded.labels, ...)` / `eval_batches(decoded, ...)` take it as is.
`verify=False` skips the pass when rows are not cached (a bad row then fails when a batch reaches it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from ..errors import TzooError
from .convert import AudioConverter, Conversions, ImageConverter
from .table import Table
from .wav import warn

Converter = Union[ImageConverter, AudioConverter]
GB = 1e9


@dataclass
class Decoded:
    """A table whose rows decode by index; `cached` holds them all when they fit.

    Attributes:
        table: the readable rows (bad ones left out when skip_bad).
        converter: bytes -> tensor for one row.
        cached: images (N, C, H, W) uint8, or audio samples of all rows end to end (float32), or None.
        offsets: (N + 1,) start of each audio row in `cached` (audio only).
        conversions: what the converter changed, over the checking pass.
        skipped: names of rows left out as unreadable.
    """

    table: Table
    converter: Converter
    cached: Optional[Tensor] = None
    offsets: Optional[Tensor] = None
    conversions: Conversions = None  # type: ignore[assignment]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> Tensor:
        return self.table.labels

    def row(self, i: int) -> Tensor:
        """Row i: image (C, H, W) uint8 or audio (T,) float32."""
        i = int(i)
        if self.cached is None:
            return self.converter(self.table.rows.read(i), self.table.name(i))
        if self.offsets is None:
            return self.cached[i]
        return self.cached[int(self.offsets[i]):int(self.offsets[i + 1])]

    def batch(self, rows: Sequence[int] | Tensor) -> Tensor | list[Tensor]:
        """Images stacked (B, C, H, W); audio rows as a list (lengths differ)."""
        if isinstance(rows, Tensor):
            rows = rows.tolist()
        if self.offsets is None and self.cached is not None:
            return self.cached[torch.as_tensor(rows, dtype=torch.long)]
        items = [self.row(i) for i in rows]
        return torch.stack(items) if isinstance(self.converter, ImageConverter) else items

    def __getitem__(self, key: int | slice | Sequence[int] | Tensor) -> Tensor | list[Tensor]:
        """Indexes like the decoded tensor would (an int, a slice, or a (B,) index tensor), whatever the
        policy, so code written for an in-memory (N, C, H, W) tensor (`images.ImageBatches`,
        `images.eval_batches`) takes a `Decoded` as is."""
        if isinstance(key, Tensor) and key.dim() == 0:
            key = int(key)
        if isinstance(key, int):
            return self.row(key)
        if isinstance(key, slice):
            key = range(*key.indices(len(self)))
        return self.batch(key)

    def note(self) -> str:
        """One line for the run's log: conversions and skipped rows ("" when neither happened)."""
        parts = [self.conversions.summary()] if self.conversions and self.conversions.counts else []
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} unreadable (first: {self.skipped[0]})")
        return "; ".join(parts)


def _budget(table: Table, converter: Converter, cache_gb: float) -> Optional[int]:
    """Bytes the cache may hold, or None when the images are known up front not to fit."""
    limit = int(cache_gb * GB)
    if isinstance(converter, ImageConverter) and len(table) * converter.row_bytes > limit:
        return None
    return limit


def _check_pass(table: Table, converter: Converter, keep: bool, limit: int, skip_bad: bool):
    """Decode every row once: (good indices, kept tensors or None, tally, bad names)."""
    tally, good, bad, kept, used = Conversions(), [], [], [] if keep else None, 0
    for i in range(len(table)):
        name = table.name(i)
        try:
            x = converter(table.rows.read(i), name, tally)
        except TzooError:
            if not skip_bad:
                raise
            bad.append(name)
            continue
        good.append(i)
        if kept is not None:
            used += x.numel() * x.element_size()
            if used <= limit:
                kept.append(x)
            else:
                kept = None  # over budget: rows will decode by index
    return good, kept, tally, bad


def decode(table: Table, converter: Converter, cache_gb: float = 4.0, skip_bad: bool = False,
           verify: bool = True) -> Decoded:
    """Check and decode `table`'s rows; keep them in memory if they fit in `cache_gb` gigabytes.

    Raises the first unreadable row's one-line error, unless `skip_bad` (then such rows are left out
    and counted in `Decoded.skipped`, with a warning line); an error too when no row is readable.
    """
    if cache_gb < 0:
        raise TzooError(f"cache_gb must be >= 0, got {cache_gb}")
    limit = _budget(table, converter, cache_gb)
    if limit is None and not verify:
        return Decoded(table, converter, conversions=Conversions())
    good, kept, tally, bad = _check_pass(table, converter, limit is not None, limit or 0, skip_bad)
    if not good:
        raise TzooError(f"{table.name(0) if len(table) else 'dataset'}: none of the {len(table)} rows is readable; "
                        "check the files")
    if bad:
        warn(f"skipped {len(bad)} of {len(table)} unreadable rows (first: {bad[0]})")
    kept_table = table if not bad else table.subset(good)
    if kept is None:
        return Decoded(kept_table, converter, conversions=tally, skipped=tuple(bad))
    if isinstance(converter, ImageConverter):
        cached = torch.stack(kept) if kept else torch.zeros(0, converter.channels, converter.size, converter.size,
                                                              dtype=torch.uint8)
        return Decoded(kept_table, converter, cached, None, tally, tuple(bad))
    lengths = torch.tensor([0] + [len(x) for x in kept])
    return Decoded(kept_table, converter, torch.cat(kept), lengths.cumsum(0), tally, tuple(bad))
