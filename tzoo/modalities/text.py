"""Text corpora: find, validate and split; fixed-size windows for language modelling."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import torch
from torch import Tensor

from ..errors import TzooError
from ..progress import track
from .sources import resolve_file
from .streams import Stream, step_generator

SHAKESPEARE = "tinyshakespeare/input.txt"
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def find_corpus(path: Optional[str]) -> Path:
    """`--data.path`, else Tiny Shakespeare from $TZOO_DATA, the cache or its public URL."""
    return resolve_file(path, SHAKESPEARE, SHAKESPEARE_URL, "--data.path")


def read_corpus(path: Path) -> str:
    """Read a UTF-8 text file, or raise a one-line error saying what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        raise TzooError(f"{path}: is a directory; pass --data.path=FILE with a UTF-8 text file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TzooError(f"{path}: cannot read ({e.strerror}); pass --data.path=FILE with a readable text file") from None
    if not raw.strip():
        raise TzooError(f"{path}: file is empty; pass --data.path=FILE with some text in it")
    if b"\x00" in raw[: 1 << 20]:
        raise TzooError(f"{path}: looks binary (contains NUL bytes); pass --data.path=FILE with a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TzooError(f"{path}: not valid UTF-8 (bad byte at offset {e.start}); "
                        "convert it to UTF-8 or pass another --data.path") from None


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """nanoGPT's split: the first (1 - val_fraction) of the characters train, the rest validation."""
    n = int(len(text) * (1.0 - val_fraction))
    return text[:n], text[n:]


def check_length(ids: Tensor, block_size: int, what: str, source: Path) -> None:
    """A split must hold at least one window of block_size + 1 tokens."""
    if ids.numel() < block_size + 1:
        raise TzooError(f"{source}: the {what} split has {ids.numel()} tokens, fewer than one block "
                        f"({block_size} + 1); use a longer text or a smaller --data.block_size")


class RandomWindows:
    """Batches of random (input, next-token target) windows, a pure function of the batch index.

    Because batch `i` depends only on (seed, i), a resumed run sees exactly the data it would
    have seen, and P processes each take their slice of the same global batch.
    """

    unit = "tokens"

    def __init__(self, ids: Tensor, block_size: int, batch_size: int, seed: int,
                 stream: Stream = Stream.TEXT_WINDOWS) -> None:
        self.ids, self.block, self.batch_size, self.seed, self.stream = ids, block_size, batch_size, seed, stream

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Tensor]:
        g = step_generator(self.seed, self.stream, index)
        starts = torch.randint(len(self.ids) - self.block, (self.batch_size * world,), generator=g)
        starts = starts[rank * self.batch_size:(rank + 1) * self.batch_size]
        offsets = torch.arange(self.block + 1)
        windows = self.ids[starts[:, None] + offsets]  # (B, T+1)
        return {"text": windows[:, :-1], "targets": windows[:, 1:]}

    def items(self, batch: dict[str, Tensor]) -> int:
        return batch["text"].numel()


def consecutive_windows(ids: Tensor, block_size: int, batch_size: int, rank: int = 0,
                        world: int = 1) -> Iterator[dict[str, Tensor]]:
    """Non-overlapping windows covering the text so every token after the first is predicted once.

    The last window is shorter when the text does not divide evenly; targets of padded
    positions are -1 (ignored). Windows are dealt round-robin to `world` processes.
    """
    n = ids.numel() - 1  # number of (input, target) pairs
    starts = list(range(0, n, block_size))[rank::world]
    chunks = range(0, len(starts), batch_size)
    for i in track(chunks, len(chunks), "evaluate", "batch", enabled=rank == 0):
        chunk = starts[i:i + batch_size]
        x = torch.zeros(len(chunk), block_size, dtype=torch.long)
        y = torch.full((len(chunk), block_size), -1, dtype=torch.long)
        for row, s in enumerate(chunk):
            e = min(s + block_size, n)
            x[row, : e - s] = ids[s:e]
            y[row, : e - s] = ids[s + 1:e + 1]
        yield {"text": x, "targets": y}
