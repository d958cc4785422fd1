"""Progress of a long step (decoding a split, an evaluation, rollouts, collecting episodes).

On a terminal a tqdm bar; otherwise (a log file) plain lines on stderr, at most one every `every_s`
seconds, each with the count, the rate and an ETA. Work that ends within `every_s` seconds prints
nothing, so short steps (and tests) stay quiet; non-main processes print nothing at all.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
EVERY_S = 10.0


def is_main_process() -> bool:
    """True unless this is a non-main process of a distributed launch (torchrun / accelerate set RANK)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def clock(seconds: float) -> str:
    """H:MM:SS."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Ticker:
    """Counts `total` units of work as they finish; use `update(n)` and `close()` (or `with`)."""

    def __init__(self, total: int, what: str, unit: str = "it", enabled: Optional[bool] = None,
                 every_s: float = EVERY_S) -> None:
        self.total, self.what, self.unit, self.every_s = total, what, unit, every_s
        self.enabled = is_main_process() if enabled is None else enabled
        self.done, self.lines, self.note = 0, 0, ""
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, delay=min(every_s, 2.0), leave=False,
                            dynamic_ncols=True)

    def update(self, n: int = 1, note: str = "") -> None:
        """`n` more units done; `note` (a running figure such as a mean return) is shown beside them."""
        self.done += n
        self.note = note or self.note
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)
        elif self.enabled and time.perf_counter() - self.last >= self.every_s:
            self._line()

    def line(self) -> str:
        """The plain progress line: count, share, rate and ETA."""
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return (f"{self.what}: {self.done}/{self.total} {self.unit}{share} | {rate:.1f} {self.unit}/s | "
                f"elapsed {clock(elapsed)} | eta {clock(eta) if eta != float('inf') else '?'}"
                + (f" | {self.note}" if self.note else ""))

    def _line(self) -> None:
        print(self.line(), file=sys.stderr, flush=True)
        self.lines += 1
        self.last = time.perf_counter()

    def close(self) -> None:
        """End the bar; in plain mode a last line, if any line was printed."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and self.lines:
            self._line()
            self.lines = 0

    def __enter__(self) -> "Ticker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], total: int, what: str, unit: str = "it", enabled: Optional[bool] = None,
          every_s: float = EVERY_S) -> Iterator[T]:
    """`items` as they are, counted by a `Ticker` (closed when the loop ends or is left)."""
    ticker = Ticker(total, what, unit, enabled, every_s)
    try:
        for item in items:
            yield item
            ticker.update(1)
    finally:
        ticker.close()
