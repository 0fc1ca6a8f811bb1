"""Bans and the moderators' audit trail; the ban check the admission door runs inside its enqueue transaction.

Functions taking a connection run inside the caller's transaction (the door's, or one of `Moderation`'s), so a
moderator action and its audit entry commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import quotas
from db.fairness import JOBS
from db.limits import lock_admission
from db.models import Ban, JobStatus, ModerationAction
from db.queue import utcnow
from db.transactions import Transactions
from db.views import JobView

ACTIONS: Table = ModerationAction.__table__  # type: ignore[assignment]
BANS: Table = Ban.__table__  # type: ignore[assignment]
MAX_ACTION_LENGTH = 32
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class BanView:
    """One ban as stored; expires_at None means until a moderator lifts it."""

    guild_id: int
    user_id: int
    moderator_id: int
    reason: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> BanView:
        """From a bans row."""
        return cls(row["guild_id"], row["user_id"], row["moderator_id"], row["reason"], row["created_at"],
                   row["expires_at"])


@dataclass(frozen=True)
class AuditEntry:
    """One moderator action: who did what to whom, when and why."""

    id: int
    guild_id: int | None
    moderator_id: int
    action: str
    target_user_id: int | None
    job_id: int | None
    reason: str
    created_at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEntry:
        """From a moderation_actions row."""
        return cls(row["id"], row["guild_id"], row["moderator_id"], row["action"], row["target_user_id"],
                   row["job_id"], row["reason"], row["created_at"], dict(row["details"] or {}))


@dataclass(frozen=True)
class Outcome:
    """What one moderator action did: its audit entry (None: nothing to do, nothing recorded), jobs, the ban."""

    entry: AuditEntry | None
    jobs: list[JobView] = field(default_factory=list)
    ban: BanView | None = None


@dataclass(frozen=True)
class QueueEntry:
    """A waiting or running job for /mod queue; position is its 1-based place in line (0 while running)."""

    job: JobView
    position: int


# -- inside someone else's transaction ---------------------------------------------------------------------------

async def active_ban(conn: AsyncConnection, guild_id: int | None, user_id: int, now: datetime) -> BanView | None:
    """The member's ban in this guild still in force at `now`, or None (a timed ban lifts itself when it ends)."""
    if guild_id is None:
        return None
    stmt = select(BANS).where(BANS.c.guild_id == guild_id, BANS.c.user_id == user_id,
                              BANS.c.expires_at.is_(None) | (BANS.c.expires_at > now))
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else BanView.from_row(row)


async def record_action(conn: AsyncConnection, now: datetime, *, guild_id: int | None, moderator_id: int,
                        action: str, target_user_id: int | None = None, job_id: int | None = None,
                        reason: str = "", details: Mapping[str, Any] | None = None) -> AuditEntry:
    """Write one audit entry (e.g. "ban", "quota_set", "appeal_allow") in the caller's transaction."""
    if not action or len(action) > MAX_ACTION_LENGTH:
        raise ValueError(f"audit action {action!r} must be 1-{MAX_ACTION_LENGTH} characters")
    values = {"guild_id": guild_id, "moderator_id": moderator_id, "action": action, "target_user_id": target_user_id,
              "job_id": job_id, "reason": reason[:MAX_REASON_LENGTH], "details": dict(details or {}),
              "created_at": now}
    row = (await conn.execute(ACTIONS.insert().values(**values).returning(*ACTIONS.c))).mappings().one()
    return AuditEntry.from_row(row)


async def cancel_jobs(conn: AsyncConnection, now: datetime, *, guild_id: int, user_id: int | None = None,
                      job_id: int | None = None) -> list[JobView]:
    """Cancel waiting jobs (one job, or all of a member's) and ask running ones to stop; returns what changed.

    Waiting jobs end at once; running ones get the cancel flag their worker sees at its next heartbeat. Both are
    left undelivered, so the bot posts the usual "was cancelled" notice where the member asked.
    """
    where = [JOBS.c.guild_id == guild_id]
    if user_id is not None:
        where.append(JOBS.c.user_id == user_id)
    if job_id is not None:
        where.append(JOBS.c.id == job_id)
    waiting = (update(JOBS).where(*where, JOBS.c.status == JobStatus.queued)
               .values(status=JobStatus.cancelled, finished_at=now).returning(*JOBS.c))
    changed = [JobView.from_row(r) for r in (await conn.execute(waiting)).mappings().all()]
    await quotas.refund(conn, [job.id for job in changed], now)  # cancelled before they ran: charge nothing
    if job_id is not None:  # one job: stop it even while it runs; a purge or ban leaves running jobs alone
        running = (update(JOBS).where(*where, JOBS.c.status == JobStatus.running)
                   .values(cancel_requested=True).returning(*JOBS.c))
        changed += [JobView.from_row(r) for r in (await conn.execute(running)).mappings().all()]
    return sorted(changed, key=lambda job: job.id)


# -- moderator actions, one transaction each ---------------------------------------------------------------------

class Moderation:
    """Bans, cancellations and the audit trail in one database; every action writes its audit entry with it."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        transactions = Transactions(engine)
        # `write` is public: quota commands add their change to an audited action in one transaction.
        self.write, self._read = transactions.write, transactions.read

    def now(self) -> datetime:
        """The moderation clock's time (timezone-aware UTC)."""
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError(f"the moderation clock returned a naive datetime {now!r}; it must be timezone-aware UTC")
        return now

    async def active_ban(self, guild_id: int | None, user_id: int) -> BanView | None:
        """The member's ban in force now, or None (a read: never waits for the write lock)."""
        async with self._read() as conn:
            return await active_ban(conn, guild_id, user_id, self.now())

    async def ban(self, guild_id: int, user_id: int, moderator_id: int, *, duration: timedelta | None,
                  reason: str) -> Outcome:
        """Ban a member (replacing an earlier ban) and cancel their waiting jobs, in one transaction."""
        if duration is not None and duration <= timedelta(0):
            raise ValueError(f"a ban's duration must be positive, got {duration!r}")
        now = self.now()
        expires_at = None if duration is None else now + duration
        values = {"guild_id": guild_id, "user_id": user_id, "moderator_id": moderator_id,
                  "reason": reason[:MAX_REASON_LENGTH], "created_at": now, "expires_at": expires_at}
        async with self.write() as conn:
            # Admissions hold this lock while they check bans and insert: one that began before the ban commits
            # first and its job is cancelled below; every later one sees the ban (PostgreSQL; SQLite: one writer).
            await lock_admission(conn)
            await conn.execute(delete(BANS).where(BANS.c.guild_id == guild_id, BANS.c.user_id == user_id))
            row = (await conn.execute(BANS.insert().values(**values).returning(*BANS.c))).mappings().one()
            cancelled = await cancel_jobs(conn, now, guild_id=guild_id, user_id=user_id)
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="ban",
                                        target_user_id=user_id, reason=reason,
                                        details={"expires_at": expires_at.isoformat() if expires_at else None,
                                                 "cancelled_jobs": [job.id for job in cancelled]})
        return Outcome(entry, cancelled, BanView.from_row(row))

    async def unban(self, guild_id: int, user_id: int, moderator_id: int, *, reason: str = "") -> Outcome:
        """Lift a member's ban; the outcome holds the ban that was in force (no ban: nothing is recorded)."""
        now = self.now()
        entry = None
        async with self.write() as conn:
            current = await active_ban(conn, guild_id, user_id, now)
            await conn.execute(delete(BANS).where(BANS.c.guild_id == guild_id, BANS.c.user_id == user_id))
            if current is not None:
                entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="unban",
                                            target_user_id=user_id, reason=reason)
        return Outcome(entry, [], current)

    async def cancel_job(self, guild_id: int, job_id: int, moderator_id: int, *, reason: str = "") -> Outcome:
        """Cancel any member's job of this guild; no jobs in the outcome when none waits or runs with that id here."""
        now = self.now()
        async with self.write() as conn:
            changed = await cancel_jobs(conn, now, guild_id=guild_id, job_id=job_id)
            if not changed:
                return Outcome(None)
            job = changed[0]
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="cancel",
                                        target_user_id=job.user_id, job_id=job.id, reason=reason,
                                        details={"was": "queued" if job.status == JobStatus.cancelled else "running"})
        return Outcome(entry, [job])

    async def purge(self, guild_id: int, user_id: int, moderator_id: int, *, reason: str = "") -> Outcome:
        """Cancel all of a member's waiting jobs in this guild; the purge is recorded even when there were none."""
        now = self.now()
        async with self.write() as conn:
            cancelled = await cancel_jobs(conn, now, guild_id=guild_id, user_id=user_id)
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="purge",
                                        target_user_id=user_id, reason=reason,
                                        details={"cancelled_jobs": [job.id for job in cancelled]})
        return Outcome(entry, cancelled)

    async def set_quota(self, guild_id: int, user_id: int, moderator_id: int, *, images_per_day: int,
                        gpu_seconds_per_day: float) -> Outcome:
        """Give a member their own daily budget, replacing their tier, with its audit entry."""
        now = self.now()
        async with self.write() as conn:
            await quotas.set_override_in(conn, user_id, images_per_day, gpu_seconds_per_day, moderator_id, now)
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="quota_set",
                                        target_user_id=user_id, details={"images_per_day": images_per_day,
                                                                         "gpu_seconds_per_day": gpu_seconds_per_day})
        return Outcome(entry)

    async def grant_quota(self, guild_id: int, user_id: int, moderator_id: int, *, images: int,
                          gpu_seconds: float) -> Outcome:
        """Add a one-off amount to a member's budget for today (UTC), with its audit entry."""
        now = self.now()
        async with self.write() as conn:
            await quotas.grant_in(conn, user_id, images, gpu_seconds, moderator_id, now)
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="quota_grant",
                                        target_user_id=user_id, details={"images": images, "gpu_seconds": gpu_seconds})
        return Outcome(entry)

    async def reset_quota(self, guild_id: int, user_id: int, moderator_id: int) -> Outcome:
        """Forgive a member's use so far today and drop their override (back to their tier), with its audit entry."""
        now = self.now()
        async with self.write() as conn:
            await quotas.reset_in(conn, user_id, moderator_id, now)
            await quotas.set_override_in(conn, user_id, None, None, moderator_id, now)
            entry = await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id, action="quota_reset",
                                        target_user_id=user_id)
        return Outcome(entry)

    async def record(self, *, guild_id: int | None, moderator_id: int, action: str, target_user_id: int | None = None,
                     job_id: int | None = None, reason: str = "",
                     details: Mapping[str, Any] | None = None) -> AuditEntry:
        """Audit an action done elsewhere, in a transaction of its own."""
        async with self.write() as conn:
            return await record_action(conn, self.now(), guild_id=guild_id, moderator_id=moderator_id, action=action,
                                       target_user_id=target_user_id, job_id=job_id, reason=reason, details=details)

    async def audit(self, guild_id: int, *, user_id: int | None = None, limit: int = 15) -> list[AuditEntry]:
        """The latest actions in a guild, newest first; with user_id, only those done to that member."""
        stmt = select(ACTIONS).where(ACTIONS.c.guild_id == guild_id)
        if user_id is not None:
            stmt = stmt.where(ACTIONS.c.target_user_id == user_id)
        stmt = stmt.order_by(ACTIONS.c.created_at.desc(), ACTIONS.c.id.desc()).limit(limit)
        async with self._read() as conn:
            return [AuditEntry.from_row(r) for r in (await conn.execute(stmt)).mappings().all()]

    async def active_jobs(self, guild_id: int, *, limit: int = 25) -> list[QueueEntry]:
        """Running jobs (oldest start first), then waiting ones with their place in the whole queue's fair order."""
        running = (select(JOBS).where(JOBS.c.guild_id == guild_id, JOBS.c.status == JobStatus.running)
                   .order_by(JOBS.c.started_at, JOBS.c.id).limit(limit))
        # The workers take jobs of every guild in one order, so a job's place counts the other guilds' jobs too.
        order = select(JOBS.c.id, JOBS.c.guild_id).where(JOBS.c.status == JobStatus.queued).order_by(JOBS.c.vtime,
                                                                                                       JOBS.c.id)
        async with self._read() as conn:
            entries = [QueueEntry(JobView.from_row(r), 0) for r in (await conn.execute(running)).mappings().all()]
            places = {row.id: place for place, row in enumerate((await conn.execute(order)).all(), start=1)
                      if row.guild_id == guild_id}
            wanted = sorted(places, key=places.__getitem__)[:max(0, limit - len(entries))]
            if wanted:
                rows = (await conn.execute(select(JOBS).where(JOBS.c.id.in_(wanted)))).mappings().all()
                waiting = sorted((JobView.from_row(r) for r in rows), key=lambda job: places[job.id])
                entries += [QueueEntry(job, places[job.id]) for job in waiting]
        return entries
