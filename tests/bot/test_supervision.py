"""supervise(): failures are logged once with their traceback, the loop restarts, and one that keeps failing gives up."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.supervision import Backoff, Supervisor, TaskGaveUp, supervise

FAST = Backoff(base_s=0.001, max_s=0.002, give_up_after=4, healthy_s=60)


async def test_a_failing_loop_is_logged_once_per_failure_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """Two failures, then a clean run until stop: two tracebacks in the log, three runs."""
    stop, runs = asyncio.Event(), []

    async def loop() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RuntimeError(f"failure {len(runs)}")
        stop.set()

    with caplog.at_level(logging.ERROR):
        await supervise("test loop", loop, stop=stop, backoff=FAST)
    assert len(runs) == 3
    failures = [r for r in caplog.records if "test loop failed" in r.getMessage()]
    assert [str(r.exc_info[1]) for r in failures] == ["failure 1", "failure 2"]


async def test_a_loop_that_keeps_failing_gives_up() -> None:
    """give_up_after failures in a row raise TaskGaveUp naming the loop."""
    async def loop() -> None:
        raise OSError("disk full")

    with pytest.raises(TaskGaveUp, match="test loop failed 4 times"):
        await supervise("test loop", loop, stop=asyncio.Event(), backoff=FAST)


async def test_a_loop_that_returns_without_being_stopped_is_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """A loop ending on its own is a failure too (these loops only end when told to)."""
    stop, runs = asyncio.Event(), []

    async def loop() -> None:
        runs.append(1)
        if len(runs) == 2:
            stop.set()

    with caplog.at_level(logging.ERROR):
        await supervise("test loop", loop, stop=stop, backoff=FAST)
    assert len(runs) == 2 and "test loop ended by itself" in caplog.text


async def test_the_supervisor_flags_a_task_that_gave_up() -> None:
    """When a task gives up, `failed` is set and everything else is told to stop (the process exits non-zero)."""
    stop = asyncio.Event()
    supervisor = Supervisor(stop, FAST)

    async def broken() -> None:
        raise RuntimeError("no")

    supervisor.start("broken", broken)
    supervisor.start("healthy", stop.wait)
    await asyncio.wait_for(supervisor.failed.wait(), timeout=5)
    await supervisor.close(grace_s=5)
    assert stop.is_set() and "broken failed 4 times" in str(supervisor.failure)
