"""Where a queued job stands: its place in the fair order and when it should be done."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db import fairness
from db.fairness import JOBS
from db.models import JobStatus
from db.views import JobView

ETA_SAMPLE = 50  # recent succeeded jobs whose gpu_seconds give the typical duration
WORKERS_SEEN_WINDOW = timedelta(minutes=10)  # a worker that started a job this recently counts as alive
LOAD_CACHE = timedelta(seconds=30)  # how long the median duration and worker count are reused


@dataclass(frozen=True)
class _Load:
    median_seconds: float | None  # median gpu_seconds of recent successes; None without history
    workers: int  # distinct workers that started a job within WORKERS_SEEN_WINDOW, at least 1
    read_at: datetime


class Estimates:
    """Position and ETA; the slow-moving inputs (median duration, workers seen) are cached per Queue."""

    def __init__(self) -> None:
        self._load: _Load | None = None

    def forget_durations(self) -> None:
        """A job just succeeded here: read the durations again next time."""
        self._load = None

    async def position(self, session: AsyncConnection, job: JobView, now: datetime) -> tuple[int, float | None]:
        """(1-based place among queued jobs in the claim's order, ETA in seconds); (0, None) when not queued."""
        if job.status != JobStatus.queued:
            return 0, None
        row = (await session.execute(fairness.standing(job.vtime, job.id))).one()
        return await self.from_standing(session, row._mapping, now)

    async def from_standing(
        self, session: AsyncConnection, standing: Mapping[Any, Any], now: datetime
    ) -> tuple[int, float | None]:
        """Position and ETA from `ahead` and `running` (read by fairness.standing, or returned by the enqueue)."""
        position = (standing["ahead"] or 0) + 1
        load = await self._read_load(session, now)
        if load.median_seconds is None:
            return position, None
        turns = -(-(position + (standing["running"] or 0)) // load.workers)  # ceiling: ahead and running, per worker
        return position, turns * load.median_seconds

    async def _read_load(self, session: AsyncConnection, now: datetime) -> _Load:
        if self._load is not None and now - self._load.read_at < LOAD_CACHE:
            return self._load
        stmt = (select(JOBS.c.gpu_seconds).where(JOBS.c.status == JobStatus.succeeded, JOBS.c.gpu_seconds.is_not(None))
                .order_by(JOBS.c.finished_at.desc()).limit(ETA_SAMPLE))
        durations = list((await session.execute(stmt)).scalars())
        seen = select(func.count(JOBS.c.worker_id.distinct())).where(JOBS.c.started_at >= now - WORKERS_SEEN_WINDOW)
        workers = await session.scalar(seen) or 0
        median = statistics.median(durations) if durations else None
        self._load = _Load(median_seconds=median, workers=max(workers, 1), read_at=now)
        return self._load
