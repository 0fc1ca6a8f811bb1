"""What happens to a running job when its worker lets go of it: released, crashed, or out of lease.

Kills (a worker died or hung holding the job) are counted apart from ordinary failures: `attempts` pays for
retries (Queue.fail), `kills` for crashes, and a job that has killed its worker `poison_kills` times is failed as a
poison job rather than allowed to take down worker after worker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import quotas
from db.fairness import JOBS
from db.models import JobStatus


@dataclass(frozen=True)
class RetryPolicy:
    """Retries as data: how often a failing job runs again, and how long it waits in between."""

    max_attempts: int = 3  # runs charged to the job (kills excluded) before a retriable failure is final
    base_seconds: float = 10.0  # the first retry waits about this long ...
    max_seconds: float = 600.0  # ... doubling each time up to this

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """Exponential backoff with "equal jitter": half fixed, half random, so retries do not stampede."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(failures - 1, 0))
        return timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))


def fail_values(
    row: Any, now: datetime, error: str, retriable: bool, policy: RetryPolicy, rng: random.Random
) -> dict[str, Any]:
    """New column values for a running job whose worker reports a failure."""
    charged = row.attempts - row.kills  # crashes are judged by poison_kills, not by the retry budget
    values: dict[str, Any] = {"error": error, "lease_expires_at": None, "worker_id": None}
    if row.cancel_requested:
        values.update(status=JobStatus.cancelled, finished_at=now)
    elif retriable and charged < policy.max_attempts:
        values.update(status=JobStatus.queued, run_after=now + policy.delay(charged, rng),
                      progress_step=None, progress_total=None)
    else:
        values.update(status=JobStatus.failed, finished_at=now)
    return values


def held(job_id: int, claim_token: int) -> ColumnElement[bool]:
    """WHERE clause: the job is running under this claim (a stale worker's token no longer matches)."""
    return and_(JOBS.c.id == job_id, JOBS.c.claim_token == claim_token, JOBS.c.status == JobStatus.running)


def let_go_values(row: Any, now: datetime, *, killed: bool, poison_kills: int) -> dict[str, Any]:
    """New column values for a running job whose worker released it (killed=False) or died (killed=True)."""
    values: dict[str, Any] = {
        "worker_id": None,
        "lease_expires_at": None,
        "progress_step": None,
        "progress_total": None,
    }
    kills = row.kills + (1 if killed else 0)
    if row.cancel_requested:
        values.update(status=JobStatus.cancelled, finished_at=now)
    elif killed and kills >= poison_kills:
        values.update(status=JobStatus.failed, finished_at=now, error=f"poison job: its worker died {kills} times")
    else:
        values.update(status=JobStatus.queued, run_after=now)
    if killed:
        values["kills"] = kills
    elif values["status"] == JobStatus.queued:
        values["attempts"] = row.attempts - 1  # a graceful hand-back is not an attempt
    return values


async def let_go(session: AsyncConnection, rows: list[Any], now: datetime, *, killed: bool, poison_kills: int) -> int:
    """Apply let_go_values to each (locked) row, guarded by its claim token; returns how many changed."""
    changed, ended = 0, []
    for row in rows:
        values = let_go_values(row, now, killed=killed, poison_kills=poison_kills)
        result = await session.execute(update(JOBS).where(held(row.id, row.claim_token)).values(**values))
        changed += result.rowcount
        if result.rowcount and values["status"] in (JobStatus.failed, JobStatus.cancelled):
            ended.append(row.id)
    await quotas.refund(session, ended, now)  # a poison or cancelled job gives its reservation back
    return changed
