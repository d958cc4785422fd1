"""Training progress: a tqdm bar on a terminal, plain log lines otherwise (other long steps: tzoo/progress.py)."""
from __future__ import annotations

import sys
import time
from typing import Optional

from ..progress import clock as _clock


def _human(x: float) -> str:
    return f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


class Progress:
    """Shows step, loss, throughput and ETA; silent on non-main processes."""

    def __init__(self, total: int, start: int, unit: str, log_every: int, enabled: bool = True) -> None:
        self.total, self.unit, self.log_every, self.enabled = total, unit, log_every, enabled
        self.bar = None
        self.rate: Optional[float] = None  # items/s, smoothed
        self.step_time: Optional[float] = None  # s/step, smoothed
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, step: int, loss: float, lr: float, items: int, seconds: float) -> None:
        """Record one finished optimizer step."""
        if not self.enabled:
            return
        a = 0.1 if self.rate is not None else 1.0
        self.rate = (1 - a) * (self.rate or 0.0) + a * (items / max(seconds, 1e-9))
        self.step_time = (1 - a) * (self.step_time or 0.0) + a * seconds
        eta = (self.total - step) * self.step_time
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss {loss:.4f} | {_human(self.rate)} {self.unit}/s | lr {lr:.2e}")
        elif step % self.log_every == 0 or step == self.total:
            print(f"step {step}/{self.total} | loss {loss:.4f} | lr {lr:.2e} | "
                  f"{_human(self.rate)} {self.unit}/s | eta {_clock(eta)}", flush=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Stopwatch:
    """Wall time of a session plus what earlier sessions of the run already spent."""

    def __init__(self, before: float = 0.0) -> None:
        self.before, self.t0 = before, time.perf_counter()

    def total(self) -> float:
        return self.before + time.perf_counter() - self.t0
