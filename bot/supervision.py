"""Long-running tasks that never die without a word.

Every loop the bot runs for its whole life (the worker, delivery, a job's heartbeat, anything added later) runs
under `supervise`: each failure is logged once, with its traceback, and the loop starts again after a growing
pause; a loop that keeps failing gives up with TaskGaveUp, and the process exits non-zero so that its own
supervisor (systemd, Docker, Kubernetes) restarts it with a clean slate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class TaskGaveUp(Exception):
    """A supervised loop failed too often in a row; the process can't go on as it should."""


@dataclass(frozen=True)
class Backoff:
    """How a supervised loop restarts: pauses double from base_s up to max_s, with jitter."""

    base_s: float = 1.0
    max_s: float = 60.0
    give_up_after: int = 10  # failures in a row; about 7 minutes with the defaults
    healthy_s: float = 300.0  # a run at least this long resets the count

    def delay(self, failures: int, rng: random.Random) -> float:
        """The pause before restart number `failures` (1-based)."""
        return min(self.max_s, self.base_s * 2 ** (failures - 1)) * rng.uniform(0.5, 1.0)


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, stop: asyncio.Event,
                    backoff: Backoff = Backoff(), clock: Callable[[], float] = time.monotonic,
                    rng: random.Random | None = None) -> None:
    """Run `run()` until `stop` is set, restarting it after each failure; raise TaskGaveUp when it keeps failing."""
    rng = rng or random.Random()
    failures = 0
    while not stop.is_set():
        started = clock()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting it", name)
        else:
            if stop.is_set():
                return
            log.error("%s ended by itself; restarting it", name)  # these loops only end when told to
        failures = 1 if clock() - started >= backoff.healthy_s else failures + 1
        if failures >= backoff.give_up_after:
            raise TaskGaveUp(f"{name} failed {failures} times in a row; see the log for each traceback")
        try:
            await asyncio.wait_for(stop.wait(), timeout=backoff.delay(failures, rng))
        except TimeoutError:
            pass


class Supervisor:
    """Starts supervised tasks and tells the process when one of them gave up."""

    def __init__(self, stop: asyncio.Event, backoff: Backoff = Backoff()) -> None:
        self.stop = stop
        self.backoff = backoff
        self.tasks: list[asyncio.Task[None]] = []
        self.failed = asyncio.Event()  # set when a task gave up: the process should exit non-zero
        self.failure: TaskGaveUp | None = None

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run a loop under supervision as a task named `name`."""
        task = asyncio.create_task(self._guard(name, run), name=name)
        self.tasks.append(task)
        return task

    async def _guard(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await supervise(name, run, stop=self.stop, backoff=self.backoff)
        except TaskGaveUp as exc:
            log.critical("%s; stopping the process so that it can be restarted", exc)
            self.failure = exc
            self.failed.set()
            self.stop.set()

    async def close(self, grace_s: float) -> None:
        """Stop every task: give them grace_s to finish after `stop`, then cancel the rest."""
        self.stop.set()
        if not self.tasks:
            return
        _, pending = await asyncio.wait(self.tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
