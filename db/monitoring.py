"""What an operator watches, read from the database: worker heartbeats and a snapshot of the queue.

Workers write a heartbeat row every few seconds, busy or idle, so `/healthz` and `python -m bot status` can tell a
quiet queue from a dead worker on any host that shares the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import READ_ONLY, write_turn
from db.errors import translated
from db.fairness import JOBS
from db.models import JobStatus, WorkerBeat

WORKERS = WorkerBeat.__table__


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkerSeen:
    """One worker's last heartbeat."""

    worker_id: str
    started_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Snapshot:
    """The queue and its workers at one moment."""

    at: datetime
    counts: dict[JobStatus, int]
    workers: list[WorkerSeen]
    oldest_queued: datetime | None
    failed_last_hour: int
    undelivered: int
    failed_by_kind: dict[str, int] = field(default_factory=dict)  # the last hour's failures, by job kind

    def live_workers(self, within_seconds: float) -> list[WorkerSeen]:
        """Workers that heartbeated within the last `within_seconds`."""
        since = self.at - timedelta(seconds=within_seconds)
        return [w for w in self.workers if w.last_seen >= since]


class Workers:
    """Heartbeat rows, one per worker id."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine, self._clock = engine, clock

    async def beat(self, worker_id: str, started_at: datetime) -> None:
        """Record that `worker_id` is alive now (busy or idle)."""
        now = self._clock()
        with translated():
            async with write_turn(self.engine), self.engine.begin() as connection:
                changed = await connection.execute(update(WORKERS).where(WORKERS.c.worker_id == worker_id)
                                                   .values(last_seen=now, started_at=started_at))
                if changed.rowcount == 0:  # only this worker writes its row, so insert-after-update cannot race
                    await connection.execute(WORKERS.insert().values(worker_id=worker_id, started_at=started_at,
                                                                     last_seen=now))

    async def gone(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        with translated():
            async with write_turn(self.engine), self.engine.begin() as connection:
                await connection.execute(delete(WORKERS).where(WORKERS.c.worker_id == worker_id))


async def snapshot(engine: AsyncEngine, *, now: datetime | None = None) -> Snapshot:
    """Counts by state, workers, the oldest waiting job, recent failures and the delivery backlog."""
    now = now or utcnow()
    hour_ago = now - timedelta(hours=1)
    finished = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)
    with translated():
        async with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
            rows = (await connection.execute(select(JOBS.c.status, func.count()).group_by(JOBS.c.status))).all()
            workers = (await connection.execute(select(WORKERS).order_by(WORKERS.c.worker_id))).mappings().all()
            oldest = await connection.scalar(select(func.min(JOBS.c.created_at))
                                             .where(JOBS.c.status == JobStatus.queued))
            failed_rows = (await connection.execute(
                select(JOBS.c.kind, func.count()).where(JOBS.c.status == JobStatus.failed,
                                                        JOBS.c.finished_at >= hour_ago).group_by(JOBS.c.kind))).all()
            undelivered = await connection.scalar(select(func.count()).where(JOBS.c.status.in_(finished),
                                                                             JOBS.c.delivered_at.is_(None)))
    found = {JobStatus(status): n for status, n in rows}
    if isinstance(oldest, str):  # SQLite returns min() of a DateTime column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Snapshot(at=now, counts={s: found.get(s, 0) for s in JobStatus},
                    workers=[WorkerSeen(w["worker_id"], w["started_at"], w["last_seen"])
                             for w in workers],
                    oldest_queued=oldest, failed_last_hour=sum(n for _, n in failed_rows),
                    undelivered=undelivered or 0,
                    failed_by_kind={getattr(kind, "value", str(kind)): n for kind, n in failed_rows})
