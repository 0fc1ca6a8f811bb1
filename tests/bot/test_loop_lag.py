"""The event-loop lag monitor: lateness percentiles per window, driven by an injected clock (no waiting)."""

import asyncio
import logging

from bot.loop_lag import LagWindow, monitor_loop_lag, percentile


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 of 1..100 are 50 and 99; no samples give 0."""
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.99)) == (50.0, 99.0, 0.0)


async def test_a_stalled_loop_shows_in_the_window() -> None:
    """Ticks that wake 30 ms late in 2 of 100 show as p99 = 30 ms and max = 30 ms; on time is 0 ms at p50."""
    now = [0.0]
    stop = asyncio.Event()
    windows: list[LagWindow] = []
    ticks = iter([0.030 if i in (10, 60) else 0.0 for i in range(100)])

    async def sleep(seconds: float) -> None:
        now[0] += seconds + next(ticks, 0.0)
        if now[0] >= 2.2:
            stop.set()

    await monitor_loop_lag(2.0, stop, tick=0.02, clock=lambda: now[0], sleep=sleep, report=windows.append)
    assert len(windows) == 1
    window = windows[0]
    assert window.p50_ms == 0.0 and round(window.p99_ms) == 30 and round(window.max_ms) == 30
    assert window.late == 2  # the two wake-ups later than 20 ms
    assert window.samples < 100


async def test_the_window_is_logged_as_one_line(caplog) -> None:
    """Without a reporter, each window is one INFO line with n, p50, p99 and max, also as fields."""
    now = [0.0]
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        now[0] += seconds + 0.001
        stop.set()

    with caplog.at_level(logging.INFO, logger="bot.loop_lag"):
        await monitor_loop_lag(0.01, stop, tick=0.02, clock=lambda: now[0], sleep=sleep)
    assert "loop lag over 0.0 s: n=1 p50=1.0 ms p99=1.0 ms max=1.0 ms" in caplog.text
    record = next(r for r in caplog.records if r.name == "bot.loop_lag")
    assert (record.samples, record.p50_ms, record.p99_ms, record.max_ms) == (1, 1.0, 1.0, 1.0)  # JSON log keys
