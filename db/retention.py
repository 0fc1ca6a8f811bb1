"""Data lifecycle queries: which finished jobs' images are old enough to delete, and marking them pruned.

Rows are never deleted: a pruned job keeps its prompt, parameters and history (for /info, exports and audits);
only `pruned_at` says that its files are gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import write_turn
from db.errors import translated
from db.fairness import JOBS
from db.models import JobStatus
from db.views import JobView

FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


async def prunable(engine: AsyncEngine, cutoff: datetime, limit: int = 500) -> list[JobView]:
    """Finished, not yet pruned jobs created before `cutoff`, oldest first."""
    stmt = (select(JOBS).where(JOBS.c.status.in_(FINISHED), JOBS.c.pruned_at.is_(None), JOBS.c.created_at < cutoff)
            .order_by(JOBS.c.id).limit(limit))
    with translated():
        async with engine.connect() as connection:
            return [JobView.from_row(r) for r in (await connection.execute(stmt)).mappings().all()]


async def mark_pruned(engine: AsyncEngine, job_ids: list[int], now: datetime) -> int:
    """Record that these jobs' images are deleted; returns how many rows changed."""
    if not job_ids:
        return 0
    stmt = update(JOBS).where(JOBS.c.id.in_(job_ids), JOBS.c.pruned_at.is_(None)).values(pruned_at=now)
    with translated():
        async with write_turn(engine), engine.begin() as connection:
            return (await connection.execute(stmt)).rowcount


async def user_jobs(engine: AsyncEngine, user_id: int) -> list[JobView]:
    """Every job of one member, oldest first (for data requests)."""
    stmt = select(JOBS).where(JOBS.c.user_id == user_id).order_by(JOBS.c.id)
    with translated():
        async with engine.connect() as connection:
            return [JobView.from_row(r) for r in (await connection.execute(stmt)).mappings().all()]
