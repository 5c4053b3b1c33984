"""A progress line for long runs: done/total, rate and ETA, at most every few seconds.

    parsed 12,000/100,000 files · 412/s · ETA 3m34s

Logged through the step's logger (Dagster's event log) and, when `pifu run` started the run
(PIFU_PROGRESS=1), printed to stderr too.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable


class Progress:
    def __init__(self, what: str, total: int, log: Callable[[str], None] | None = None, every_s: float = 5.0,
                 unit: str = "files", clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.log, self.every_s, self.unit, self.clock = what, total, log, every_s, unit, clock
        self.started = self.last = clock()
        self.printing = os.environ.get("PIFU_PROGRESS") == "1"

    def line(self, done: int) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = done / elapsed
        text = f"{self.what} {done:,}/{self.total:,} {self.unit} · {rate:,.0f}/s"
        if 0 < done < self.total and rate > 0:
            text += f" · ETA {_duration((self.total - done) / rate)}"
        elif done >= self.total:
            text += f" · {_duration(elapsed)}"
        return text

    def update(self, done: int) -> None:
        now = self.clock()
        if done < self.total and now - self.last < self.every_s:
            return
        self.last = now
        text = self.line(done)
        if self.log:
            self.log(text)
        if self.printing:
            print(text, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
