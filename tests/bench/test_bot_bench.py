"""bench/bot.py keeps working: its log reading on made-up lines, and one small run against the real bot process."""

import json
from datetime import UTC, datetime

import pytest

from bench import bot as bot_bench


def _line(at: float, logger: str, message: str, **fields) -> str:
    time = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return json.dumps({"time": time, "level": "INFO", "logger": logger, "message": message, **fields})


def _window(at: float, p99: float) -> str:
    return _line(at, "bot.loop_lag", "loop lag over 1.0 s: ...", window_s=1.0, samples=50, p50_ms=0.5,
                 p99_ms=p99, max_ms=p99 + 1, late_20ms=int(p99 > 20))


def test_lag_windows_are_those_inside_the_job_and_the_idle_ones_before() -> None:
    """Windows ending in [claim + window, finish] count as the job's; those in the 4 s before as the idle bot's."""
    text = "\n".join([_window(96.5, 9.0), "a library's plain print", _window(100.5, 50.0), _window(101.5, 3.0),
                      _window(102.5, 5.0), _line(102.6, "bot.worker", "job 7 succeeded"), _window(104.0, 70.0)])
    figures = bot_bench.lag_windows(text, begin=100.0, end=103.0, window_s=1.0)
    assert figures["windows"] == 2 and figures["p99_ms_worst_window"] == 5.0 and figures["max_ms"] == 6.0
    assert figures["idle_p99_ms_worst_window"] == 9.0 and figures["job_seconds"] == 3.0
    assert (figures["ticks"], figures["ticks_late_20ms"], figures["p99_under_20ms"]) == (100, 0, True)


def test_a_lag_line_without_its_fields_stops_the_bench() -> None:
    """If the bot stops logging the window's fields, the bench says so instead of reporting nothing."""
    text = _line(101.5, "bot.loop_lag", "loop lag over 1.0 s: n=50 p50=0.5 ms p99=3.0 ms max=4.0 ms")
    with pytest.raises(ValueError, match="without its fields"):
        bot_bench.lag_windows(text, begin=100.0, end=103.0, window_s=1.0)


def test_a_small_run_measures_all_three_figures(tmp_path) -> None:
    """2 members x 2 commands, a 40-step job read in 0.2 s windows, one timed grid: every figure is there."""
    out = tmp_path / "bot.json"
    assert bot_bench.main(["--members", "2", "--per-member", "2", "--side", "64", "--steps", "2", "--long-steps",
                           "40", "--lag-window", "0.2", "--grids", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["ack"]["answered"] == 4 and results["ack"]["missed_30s"] == 0
    assert results["loop_lag"]["windows"] >= 1 and results["loop_lag"]["ticks"] > 0
    assert results["overhead"]["grids"] == 1 and results["overhead"]["generation_s_median"] > 0
    assert len(results["startup"]["warm_up_s"]) == 1  # the embedded worker loaded the model before connecting
