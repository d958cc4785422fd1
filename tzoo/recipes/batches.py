"""Feeding the loop: batches by index, in order, optionally built by worker processes.

Because `BatchSource.batch(index, rank, world)` is a pure function of its arguments, batches
can be computed anywhere (here, or in DataLoader workers) and a resumed run just starts at a
later index.
"""
from __future__ import annotations

from typing import Any, Iterator

from torch.utils.data import DataLoader, Dataset

from .base import BatchSource


class _Indexed(Dataset):
    def __init__(self, source: BatchSource, rank: int, world: int, stop: int) -> None:
        self.source, self.rank, self.world, self.stop = source, rank, world, stop

    def __len__(self) -> int:
        return self.stop

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.source.batch(index, self.rank, self.world)


def batch_stream(source: BatchSource, start: int, stop: int, rank: int, world: int,
                 workers: int = 0, pin_memory: bool = False) -> Iterator[tuple[int, Any]]:
    """(index, batch) for index = start .. stop-1, in order.

    With workers > 0 a DataLoader prepares upcoming batches in parallel processes; the order
    (and therefore every number the run produces) is the same as with workers = 0.
    """
    if workers <= 0:
        return ((i, source.batch(i, rank, world)) for i in range(start, stop))
    loader = DataLoader(_Indexed(source, rank, world, stop), batch_size=None, sampler=range(start, stop),
                        num_workers=workers, pin_memory=pin_memory, prefetch_factor=4,
                        persistent_workers=False)
    return iter(loader)
