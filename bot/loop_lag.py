"""Event-loop lag: a timer task that measures how late the loop wakes it, and logs percentiles per window.

Anything that blocks the loop (a slow call on it, or a generation thread holding the GIL) delays every
acknowledgement and heartbeat by the same amount; this makes that delay visible in the log:

    loop lag over 10.0 s: n=499 p50=0.4 ms p99=3.1 ms max=7.9 ms

The clock and the sleep are parameters, so tests drive it without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

TICK_SECONDS = 0.02  # fine enough to see a 20 ms stall, cheap enough (50 wake-ups a second) to leave on
LATE_MS = 20.0  # wake-ups later than this are counted: over many windows, p99 < 20 ms <=> under 1% of them


@dataclass(frozen=True)
class LagWindow:
    """Lateness of the timer's wake-ups over one window, in milliseconds."""

    seconds: float
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int = 0  # wake-ups more than LATE_MS late

    def line(self) -> str:
        """The log line for this window."""
        return (f"loop lag over {self.seconds:.1f} s: n={self.samples} p50={self.p50_ms:.1f} ms "
                f"p99={self.p99_ms:.1f} ms max={self.max_ms:.1f} ms")

    def fields(self) -> dict[str, float | int]:
        """The same figures as log fields (JSON keys), for tools that read the log (bench/bot.py)."""
        return {"window_s": round(self.seconds, 3), "samples": self.samples, "p50_ms": round(self.p50_ms, 2),
                "p99_ms": round(self.p99_ms, 2), "max_ms": round(self.max_ms, 2), "late_20ms": self.late}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction 0-1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def summarize(lateness_s: list[float], seconds: float) -> LagWindow:
    """A LagWindow from lateness samples in seconds."""
    ms = [value * 1000.0 for value in lateness_s]
    return LagWindow(seconds=seconds, samples=len(ms), p50_ms=percentile(ms, 0.5), p99_ms=percentile(ms, 0.99),
                     max_ms=max(ms, default=0.0), late=sum(value > LATE_MS for value in ms))


async def monitor_loop_lag(window_seconds: float, stop: asyncio.Event, *, tick: float = TICK_SECONDS,
                           clock: Callable[[], float] = time.perf_counter,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           report: Callable[[LagWindow], None] | None = None) -> None:
    """Sleep `tick` at a time until `stop`; log (or `report`) each window's lateness percentiles."""
    report = report or (lambda window: log.info(window.line(), extra=window.fields()))
    samples: list[float] = []
    window_start = clock()
    while not stop.is_set():
        expected = clock() + tick
        await sleep(tick)
        now = clock()
        samples.append(max(0.0, now - expected))
        if now - window_start >= window_seconds:
            report(summarize(samples, now - window_start))
            samples, window_start = [], now
