"""Per-member and global job limits, checked inside the enqueue's transaction so concurrent commands can't overshoot.

Atomicity: every admission first takes the admission lock. On SQLite the write transaction's BEGIN IMMEDIATE is that
lock already (one writer at a time); on PostgreSQL it is a transaction-scoped advisory lock, so two enqueues never
count the same jobs, and the count and the insert commit together. Only admissions take it: claims, heartbeats and
deliveries never wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Integer, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.fairness import JOBS
from db.models import JobStatus, UTCDateTime

# pg_advisory_xact_lock key for admissions: any constant unlikely to clash with other users of advisory locks.
ADMISSION_LOCK_KEY = 0x696D6167  # "imag"


class Refused(Exception):
    """The door refused a job. `reason` is for the member; `frees_at` says when it frees up (None: unknown)."""

    def __init__(self, reason: str, frees_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason, self.frees_at = reason, frees_at


class LimitReached(Refused):
    """A per-member or global job limit."""


@dataclass(frozen=True)
class Limits:
    """The [limits] the door enforces at enqueue (max_running_per_user is enforced by the claim)."""

    max_queued_per_user: int = 3
    jobs_per_window: int = 10
    window_seconds: float = 600.0
    max_queue_size: int = 500


async def lock_admission(session: AsyncConnection) -> None:
    """Serialize admissions until this transaction ends (SQLite: already serialized by BEGIN IMMEDIATE)."""
    if session.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMISSION_LOCK_KEY})


_USER = bindparam("limit_user_id", type_=BigInteger)
_SINCE = bindparam("limit_since", type_=UTCDateTime())
_OFFSET = bindparam("limit_offset", type_=Integer)
_Q = JOBS.alias("limit_q")
# One round trip for the three counts; each is an index range (ix_jobs_user_status, ix_jobs_user_created, ix_jobs_claim).
COUNTS = select(
    select(func.count()).select_from(_Q).where(_Q.c.user_id == _USER, _Q.c.status == JobStatus.queued)
    .scalar_subquery().label("user_queued"),
    select(func.count()).select_from(_Q).where(_Q.c.user_id == _USER, _Q.c.created_at > _SINCE)
    .scalar_subquery().label("user_recent"),
    select(func.count()).select_from(_Q).where(_Q.c.status == JobStatus.queued).scalar_subquery().label("queued"),
)
# The job whose ageing out of the window lets the member queue again: the N-th newest inside it.
WINDOW_EDGE = (select(JOBS.c.created_at).where(JOBS.c.user_id == _USER, JOBS.c.created_at > _SINCE)
               .order_by(JOBS.c.created_at.desc()).limit(1).offset(_OFFSET))


async def check_limits(session: AsyncConnection, user_id: int, now: datetime, limits: Limits) -> None:
    """Raise LimitReached when this member (or the whole queue) is at a limit; call after lock_admission."""
    window = timedelta(seconds=limits.window_seconds)
    params = {"limit_user_id": user_id, "limit_since": now - window}
    counts = (await session.execute(COUNTS, params)).one()
    if counts.user_queued >= limits.max_queued_per_user:
        raise LimitReached(f"You already have {counts.user_queued} jobs waiting (the limit is "
                           f"{limits.max_queued_per_user}); try again when one of them starts.")
    if counts.user_recent >= limits.jobs_per_window:
        edge = await session.scalar(WINDOW_EDGE, params | {"limit_offset": limits.jobs_per_window - 1})
        frees_at = edge + window if edge is not None else None
        raise LimitReached(f"You queued {counts.user_recent} jobs in the last {_duration(limits.window_seconds)} "
                           f"(the limit is {limits.jobs_per_window}).", frees_at)
    if counts.queued >= limits.max_queue_size:
        raise LimitReached(f"The bot is busy: {counts.queued} jobs are waiting (the limit is "
                           f"{limits.max_queue_size}). Try again in a few minutes.")


def _duration(seconds: float) -> str:
    """600 -> '10 minutes'; 90 -> '90 seconds'; 7200 -> '2 hours'."""
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"
