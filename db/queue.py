"""The durable job queue: fair claims in one statement, leases with heartbeats, retries, crash recovery.

The same statements run on SQLite (one host) and PostgreSQL (workers on many hosts); see docs/QUEUE.md.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import leases, quotas, statements
from db.errors import QueueFull
from db.estimates import Estimates
from db.fairness import ACTIVE, JOBS
from db.leases import RetryPolicy, held
from db.models import JobStatus
from db.transactions import Transactions
from db.views import Enqueued, Heartbeat, JobView, NewJob, Waiting

FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)
# pg_advisory_xact_lock key that claims take in turn when max_running_per_user is set (db/limits.py has the
# admissions' key).
CLAIM_LOCK_KEY = 0x636C6169  # "clai"


class Admit(Protocol):
    """The checks a job must pass inside the enqueue's transaction (bot/admission.py implements it)."""

    async def check(self, session: AsyncConnection, now: datetime) -> None:
        """Raise (e.g. db.limits.Refused) to refuse the job; nothing is written then."""

    async def record(self, session: AsyncConnection, job: JobView, now: datetime) -> None:
        """After the insert, in the same transaction: e.g. reserve the job's quota."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class Queue:
    """Jobs in one database; every method is one short transaction and returns frozen views."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = 60.0,
        max_attempts: int = 3,
        poison_kills: int = 2,
        retry_base_seconds: float = 10.0,
        retry_max_seconds: float = 600.0,
        max_queued: int | None = None,
        max_running_per_user: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if lease_seconds <= 0 or max_attempts < 1 or poison_kills < 1:
            raise ValueError(f"bad queue settings: lease_seconds={lease_seconds!r}, max_attempts={max_attempts!r}, "
                             f"poison_kills={poison_kills!r}")
        self.engine = engine
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._retry = RetryPolicy(max_attempts, retry_base_seconds, retry_max_seconds)
        self._poison_kills = poison_kills
        self._max_queued = max_queued
        # The claim skips members with this many jobs running (None: no cap).
        self._max_running = max_running_per_user if max_running_per_user is not None else 2**31 - 1
        self._rng = rng or random.Random()
        self._estimates = Estimates()
        transactions = Transactions(engine)
        self._write, self._read = transactions.write, transactions.read

    def now(self) -> datetime:
        """The queue's clock (tests move it by hand); other stores share it so all agree on the time."""
        return self._now()

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError(f"the queue's clock returned a naive datetime {now!r}; it must be timezone-aware UTC")
        return now

    async def enqueue(self, new: NewJob, admit: Admit | None = None) -> Enqueued:
        """Add a job, or return the existing one when its interaction_id was seen before (created=False).

        `admit` (bot/admission.py's door) checks bans, limits and quotas inside this transaction, before the insert,
        and records the quota reservation after it; a retried interaction gets its job back without new checks.
        """
        now = self._now()
        # One statement: the vtime and the new job's standing (for position and ETA) are subqueries inside it.
        stmt = statements.insert_job(self.engine.dialect.name)
        params = statements.insert_job_params(new.row(now))
        existing = select(JOBS).where(JOBS.c.interaction_id == new.interaction_id)  # built only, not run, usually
        async with self._write() as session:
            if admit is not None:
                seen = None if new.interaction_id is None else (await session.execute(existing)).mappings().first()
                if seen is not None:
                    job = JobView.from_row(seen)
                    position, eta = await self._estimates.position(session, job, now)
                    return Enqueued(job=job, created=False, position=position, eta_seconds=eta)
                await admit.check(session, now)
            if self._max_queued is not None:
                queued = await session.scalar(select(func.count()).where(JOBS.c.status == JobStatus.queued)) or 0
                if queued >= self._max_queued and (await session.execute(existing)).first() is None:
                    raise QueueFull(f"the queue already holds {queued} jobs (max_queued={self._max_queued})")
            # ON CONFLICT DO NOTHING: a concurrent duplicate waits for the first to commit, then inserts nothing.
            row = (await session.execute(stmt, params)).mappings().first()
            if row is not None:
                job = JobView.from_row(row)
                if admit is not None:
                    await admit.record(session, job, now)
                position, eta = await self._estimates.from_standing(session, row, now)
                return Enqueued(job=job, created=True, position=position, eta_seconds=eta)
            job = JobView.from_row((await session.execute(existing)).mappings().one())
            position, eta = await self._estimates.position(session, job, now)
        return Enqueued(job=job, created=False, position=position, eta_seconds=eta)

    async def in_transaction(self, work: Callable[[AsyncConnection, datetime], Awaitable[None]]) -> None:
        """Run `work(session, now)` in one write transaction that inserts nothing (the door's pre-checks)."""
        now = self._now()
        async with self._write() as session:
            await work(session, now)

    async def cancel(self, job_id: int, user_id: int) -> JobView | None:
        """Cancel a user's job: queued ones at once, running ones by a flag the worker sees in heartbeat.

        Returns the job as it is afterwards (check status / cancel_requested), or None when it is not theirs.
        A job cancelled while queued counts as delivered: the reply to the cancel is the user's notice.
        """
        now = self._now()
        async with self._write() as session:
            stmt = select(JOBS).where(JOBS.c.id == job_id, JOBS.c.user_id == user_id).with_for_update()
            row = (await session.execute(stmt)).mappings().first()
            if row is None:
                return None
            if row["status"] == JobStatus.queued:
                values = {"status": JobStatus.cancelled, "finished_at": now, "delivered_at": now}
            elif row["status"] == JobStatus.running:
                values = {"cancel_requested": True}
            else:
                return JobView.from_row(row)
            change = update(JOBS).where(JOBS.c.id == job_id).values(**values).returning(*JOBS.c)
            job = JobView.from_row((await session.execute(change)).mappings().one())
            if job.status == JobStatus.cancelled:
                await quotas.refund(session, [job.id], now)
            return job

    async def claim(self, worker_id: str) -> JobView | None:
        """Take the next job in the fair order, under a fresh claim token and lease; None when nothing is ready."""
        now = self._now()
        params = {"claim_now": now, "claim_worker": worker_id, "claim_lease_expires_at": now + self._lease,
                  "claim_max_running": self._max_running}
        async with self._write() as session:
            if self._max_running < 2**31 - 1 and session.dialect.name == "postgresql":
                # Two claims at the same instant would each count the member's running jobs without the other's
                # (the row locks are on different jobs) and together pass max_running_per_user: with a cap, claims
                # take turns (SQLite's BEGIN IMMEDIATE already makes them). A claim is one short statement.
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            row = (await session.execute(statements.CLAIM, params)).mappings().first()
        return None if row is None else JobView.from_row(row)

    async def heartbeat(
        self, job_id: int, claim_token: int, progress_step: int | None = None, progress_total: int | None = None
    ) -> Heartbeat:
        """Renew the lease and record progress; falsy when the caller no longer holds the job."""
        now = self._now()
        values: dict[str, object] = {"lease_expires_at": now + self._lease}
        if progress_step is not None:
            values["progress_step"] = progress_step
        if progress_total is not None:
            values["progress_total"] = progress_total
        stmt = update(JOBS).where(held(job_id, claim_token)).values(**values).returning(JOBS.c.cancel_requested)
        async with self._write() as session:
            cancel_requested = (await session.execute(stmt)).scalar()
        return Heartbeat(held=cancel_requested is not None, cancel_requested=bool(cancel_requested))

    async def succeed(self, job_id: int, claim_token: int, result_dir: str, gpu_seconds: float, *,
                      nsfw_scores: list[float] | None = None) -> bool:
        """Record success (with each image's NSFW score, if scored); False when the claim was lost."""
        now = self._now()
        values = {"status": JobStatus.succeeded, "finished_at": now, "result_dir": result_dir,
                  "gpu_seconds": gpu_seconds, "lease_expires_at": None, "error": None, "nsfw_scores": nsfw_scores}
        async with self._write() as session:
            result = await session.execute(update(JOBS).where(held(job_id, claim_token)).values(**values))
            if result.rowcount == 1:
                await quotas.settle(session, job_id, gpu_seconds, now)  # the measured cost replaces the estimate
                self._estimates.forget_durations()
                return True
            stmt = select(JOBS.c.status, JOBS.c.claim_token).where(JOBS.c.id == job_id)
            row = (await session.execute(stmt)).first()
        # The commit went through but its reply was lost, and the worker asks again.
        return row is not None and row.status == JobStatus.succeeded and row.claim_token == claim_token

    async def fail(self, job_id: int, claim_token: int, error: str, retriable: bool) -> JobView | None:
        """Record a failure: back to queued after a backoff when retriable and attempts remain, else failed."""
        now = self._now()
        async with self._write() as session:
            stmt = select(JOBS.c.attempts, JOBS.c.kills, JOBS.c.cancel_requested).where(held(job_id, claim_token))
            row = (await session.execute(stmt.with_for_update())).first()
            if row is None:
                return None
            values = leases.fail_values(row, now, error, retriable, self._retry, self._rng)
            change = update(JOBS).where(held(job_id, claim_token)).values(**values).returning(*JOBS.c)
            job = JobView.from_row((await session.execute(change)).mappings().one())
            if job.status in (JobStatus.failed, JobStatus.cancelled):
                await quotas.refund(session, [job.id], now)
            return job

    async def finish_cancelled(self, job_id: int, claim_token: int) -> bool:
        """The worker stopped a job whose user cancelled it; it waits in undelivered() for the bot's notice."""
        now = self._now()
        values = {"status": JobStatus.cancelled, "finished_at": now, "lease_expires_at": None}
        async with self._write() as session:
            result = await session.execute(update(JOBS).where(held(job_id, claim_token)).values(**values))
            if result.rowcount == 1:
                await quotas.refund(session, [job_id], now)
        return result.rowcount == 1

    async def release(self, job_id: int, claim_token: int) -> bool:
        """Hand a job back gracefully (worker shutting down): queued again, the attempt not counted."""
        now = self._now()
        async with self._write() as session:
            stmt = select(JOBS).where(held(job_id, claim_token)).with_for_update()
            rows = list((await session.execute(stmt)).all())
            changed = await leases.let_go(session, rows, now, killed=False, poison_kills=self._poison_kills)
        return changed == 1

    async def release_worker(self, worker_id: str) -> int:
        """On a worker's start: hand back the jobs it held when it crashed (each counts as a kill)."""
        now = self._now()
        async with self._write() as session:
            stmt = select(JOBS).where(JOBS.c.worker_id == worker_id, JOBS.c.status == JobStatus.running)
            rows = list((await session.execute(stmt.with_for_update(skip_locked=True))).all())
            return await leases.let_go(session, rows, now, killed=True, poison_kills=self._poison_kills)

    async def reclaim_expired(self) -> int:
        """Put running jobs whose lease expired back in the queue (or fail them as poison); returns how many."""
        now = self._now()
        stmt = select(JOBS).where(JOBS.c.status == JobStatus.running, JOBS.c.lease_expires_at < now)
        async with self._read() as session:  # usually there are none: idle workers poll without the write lock
            if (await session.execute(stmt.limit(1))).first() is None:
                return 0
        async with self._write() as session:
            rows = list((await session.execute(stmt.with_for_update(skip_locked=True))).all())
            return await leases.let_go(session, rows, now, killed=True, poison_kills=self._poison_kills)

    async def get(self, job_id: int) -> JobView | None:
        """One job, or None."""
        async with self._read() as session:
            row = (await session.execute(select(JOBS).where(JOBS.c.id == job_id))).mappings().first()
        return None if row is None else JobView.from_row(row)

    async def find_by_message(self, message_id: int) -> JobView | None:
        """The job whose result was posted as this Discord message, or None."""
        stmt = select(JOBS).where(JOBS.c.result_message_id == message_id).order_by(JOBS.c.id).limit(1)
        found = await self._views(stmt)
        return found[0] if found else None

    async def position(self, job_id: int) -> tuple[int, float | None]:
        """(1-based place among queued jobs in the fair order, ETA in seconds); (0, None) when not queued."""
        async with self._read() as session:
            row = (await session.execute(select(JOBS).where(JOBS.c.id == job_id))).mappings().first()
            if row is None:
                return 0, None
            return await self._estimates.position(session, JobView.from_row(row), self._now())

    async def waiting(self, limit: int = 50) -> list[Waiting]:
        """The first `limit` queued jobs in the claim's fair order, each with its position and ETA (status messages)."""
        stmt = select(JOBS).where(JOBS.c.status == JobStatus.queued).order_by(JOBS.c.vtime, JOBS.c.id).limit(limit)
        running = select(func.count()).where(JOBS.c.status == JobStatus.running)
        now = self._now()
        async with self._read() as session:
            rows = (await session.execute(stmt)).mappings().all()
            busy = await session.scalar(running) or 0
            found = []
            for ahead, row in enumerate(rows):
                position, eta = await self._estimates.from_standing(session, {"ahead": ahead, "running": busy}, now)
                found.append(Waiting(JobView.from_row(row), position, eta))
        return found

    async def running(self) -> list[JobView]:
        """Jobs running now, oldest start first."""
        stmt = select(JOBS).where(JOBS.c.status == JobStatus.running).order_by(JOBS.c.started_at, JOBS.c.id)
        return await self._views(stmt)

    async def undelivered(self, limit: int = 20, *, skip: Collection[int] = ()) -> list[JobView]:
        """Finished jobs whose result (or failure, or cancellation while running) is due to be posted now.

        Jobs waiting out a retry delay, and those in `skip` (deliveries under way), are paged past, so a few stuck
        deliveries never hide the jobs behind them.
        """
        stmt = (select(JOBS).where(JOBS.c.status.in_(FINISHED), JOBS.c.delivered_at.is_(None),
                                   JOBS.c.delivery_due_at.is_(None) | (JOBS.c.delivery_due_at <= self._now()))
                .order_by(JOBS.c.finished_at, JOBS.c.id).limit(limit))
        if skip:
            stmt = stmt.where(JOBS.c.id.not_in(list(skip)))
        return await self._views(stmt)

    async def recent_jobs(self, user_id: int, limit: int = 10) -> list[JobView]:
        """A user's latest jobs, newest first."""
        stmt = (select(JOBS).where(JOBS.c.user_id == user_id)
                .order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc()).limit(limit))
        return await self._views(stmt)

    async def active_jobs(self, user_id: int) -> list[JobView]:
        """A member's running jobs, then their waiting ones, each oldest first (for /info)."""
        stmt = (select(JOBS).where(JOBS.c.user_id == user_id, JOBS.c.status.in_(ACTIVE))
                .order_by(JOBS.c.status.desc(), JOBS.c.vtime, JOBS.c.id))  # "running" sorts after "queued"
        return await self._views(stmt)

    async def count_active(self, user_id: int) -> int:
        """A user's queued plus running jobs (for per-user limits)."""
        stmt = select(func.count()).where(JOBS.c.user_id == user_id, JOBS.c.status.in_(ACTIVE))
        async with self._read() as session:
            return await session.scalar(stmt) or 0

    async def jobs_since(self, user_id: int, since: datetime) -> int:
        """Jobs a user created at or after `since`, except those cancelled before they started (for quotas)."""
        stmt = select(func.count()).where(
            JOBS.c.user_id == user_id, JOBS.c.created_at >= since,
            (JOBS.c.status != JobStatus.cancelled) | JOBS.c.started_at.is_not(None),
        )
        async with self._read() as session:
            return await session.scalar(stmt) or 0

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (for metrics and tests)."""
        stmt = select(JOBS.c.status, func.count()).group_by(JOBS.c.status)
        async with self._read() as session:
            found = {JobStatus(status): n for status, n in (await session.execute(stmt)).all()}
        return {status: found.get(status, 0) for status in JobStatus}

    async def _views(self, stmt: object) -> list[JobView]:
        async with self._read() as session:
            return [JobView.from_row(r) for r in (await session.execute(stmt)).mappings().all()]  # type: ignore[call-overload]

    async def begin_delivery(self, job_id: int) -> int:
        """Count one more delivery attempt and return the count (0 when the job does not exist)."""
        stmt = (update(JOBS).where(JOBS.c.id == job_id)
                .values(delivery_attempts=JOBS.c.delivery_attempts + 1).returning(JOBS.c.delivery_attempts))
        async with self._write() as session:
            return (await session.execute(stmt)).scalar() or 0

    async def mark_delivered(self, job_id: int, result_message_id: int | None, *, failed: str | None = None) -> bool:
        """Record delivery once (`failed`: why it never reached its channel); a second call changes nothing."""
        stmt = (update(JOBS).where(JOBS.c.id == job_id, JOBS.c.delivered_at.is_(None))
                .values(delivered_at=self._now(), result_message_id=result_message_id, delivery_failed=failed,
                        delivery_due_at=None))
        async with self._write() as session:
            return (await session.execute(stmt)).rowcount == 1

    async def delay_delivery(self, job_id: int, seconds: float) -> JobView | None:
        """A delivery attempt failed for now: try again after `seconds`; remembers when the failures began."""
        now = self._now()
        stmt = (update(JOBS).where(JOBS.c.id == job_id, JOBS.c.delivered_at.is_(None))
                .values(delivery_due_at=now + timedelta(seconds=seconds),
                        delivery_error_at=func.coalesce(JOBS.c.delivery_error_at,
                                                                literal(now, JOBS.c.delivery_error_at.type)))
                .returning(*JOBS.c))
        async with self._write() as session:
            row = (await session.execute(stmt)).mappings().first()
        return None if row is None else JobView.from_row(row)

    async def set_status_message(self, job_id: int, message_id: int) -> bool:
        """Remember the message that shows the job's progress; False when the job does not exist."""
        stmt = update(JOBS).where(JOBS.c.id == job_id).values(status_message_id=message_id)
        async with self._write() as session:
            return (await session.execute(stmt)).rowcount == 1
