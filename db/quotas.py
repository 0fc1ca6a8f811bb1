"""Daily quotas (UTC days) as a ledger: reserve at enqueue, settle when a job ends, refund if it fails or is cancelled.

A member's use on a day is the sum of that day's quota_ledger rows; moderators' grants raise the day's budget,
resets cancel the day's use so far, and overrides replace the configured tier. Settle and refund insert at most one
row per job (a unique (job_id, entry) pair, ON CONFLICT DO NOTHING) inside the same transaction as the job's state
change in db/queue.py, so a crash or a retried step can't charge a member twice or not at all.

Functions that take a connection run in the caller's transaction (the door's, the queue's, a moderator action's);
`Quotas` wraps each in a transaction of its own for callers without one.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import BigInteger, Table, bindparam, case, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.engine import READ_ONLY, write_turn
from db.errors import translated
from db.fairness import JOBS
from db.limits import Refused
from db.models import JobStatus, LedgerEntry, QuotaLedger, QuotaOverride

LEDGER: Table = QuotaLedger.__table__  # type: ignore[assignment]
OVERRIDES: Table = QuotaOverride.__table__  # type: ignore[assignment]
# Without history: GPU seconds per sampling step per megapixel per image (about a 24 GB consumer GPU on SD 1.5).
DEFAULT_SECONDS_PER_MEGAPIXEL_STEP = 0.2
CALIBRATION_SAMPLE = 50  # recent successes the estimate learns its rate from
CALIBRATION_SECONDS = 60.0  # how long a learned rate is reused


@dataclass(frozen=True)
class Budget:
    """Images and GPU seconds: a daily allowance, a use, or one job's cost."""

    images: int
    gpu_seconds: float


@dataclass(frozen=True)
class Usage:
    """A member's quota on one UTC day: what they may use, what they used, and when it resets."""

    day: date
    allowance: Budget  # the tier (or the moderator's override) plus today's grants
    used: Budget
    resets_at: datetime
    overridden: bool  # a moderator's override replaces the configured tier

    @property
    def left(self) -> Budget:
        """What is left today (never below zero)."""
        return Budget(max(0, self.allowance.images - self.used.images),
                      max(0.0, self.allowance.gpu_seconds - self.used.gpu_seconds))


class QuotaExceeded(Refused):
    """The job would take the member past today's budget."""


def utc_day(now: datetime) -> date:
    """The UTC day `now` falls on."""
    return now.astimezone(UTC).date()


def next_reset(now: datetime) -> datetime:
    """The next 00:00 UTC after `now`."""
    return datetime.combine(utc_day(now) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def job_cost(images: int, gpu_seconds: float, multiplier: float) -> Budget:
    """A job's charge in a channel whose profile has this quota_multiplier (images round up)."""
    return Budget(math.ceil(images * multiplier - 1e-9), gpu_seconds * multiplier)


def _insert(session: AsyncConnection):
    return pg_insert(LEDGER) if session.dialect.name == "postgresql" else sqlite_insert(LEDGER)


# -- inside the caller's transaction -------------------------------------------------------------------------------

_USER = bindparam("quota_user_id", type_=BigInteger)
_DAY = bindparam("quota_day", type_=LEDGER.c.day.type)
_TODAY = select(LEDGER.c.images, LEDGER.c.gpu_seconds, LEDGER.c.entry).where(
    LEDGER.c.user_id == _USER, LEDGER.c.day == _DAY).subquery("today")
_OVERRIDE = select(OVERRIDES.c.images_per_day, OVERRIDES.c.gpu_seconds_per_day).where(
    OVERRIDES.c.user_id == _USER)
# Built once; one round trip for the day's grants and use (ix_quota_ledger_user_day) and the member's override
# (its primary key): the door runs it for every job it admits.
USAGE = select(
    func.coalesce(func.sum(case((_TODAY.c.entry == LedgerEntry.granted, _TODAY.c.images), else_=0)), 0),
    func.coalesce(func.sum(case((_TODAY.c.entry == LedgerEntry.granted, _TODAY.c.gpu_seconds), else_=0.0)), 0.0),
    func.coalesce(func.sum(case((_TODAY.c.entry == LedgerEntry.granted, 0), else_=_TODAY.c.images)), 0),
    func.coalesce(func.sum(case((_TODAY.c.entry == LedgerEntry.granted, 0.0), else_=_TODAY.c.gpu_seconds)), 0.0),
    select(func.count()).select_from(_OVERRIDE.subquery()).scalar_subquery(),
    _OVERRIDE.with_only_columns(OVERRIDES.c.images_per_day).scalar_subquery(),
    _OVERRIDE.with_only_columns(OVERRIDES.c.gpu_seconds_per_day).scalar_subquery(),
).select_from(_TODAY)


async def usage_in(session: AsyncConnection, user_id: int, tier: Budget, now: datetime) -> Usage:
    """Today's allowance and use for a member whose configured tier is `tier`."""
    day = utc_day(now)
    row = (await session.execute(USAGE, {"quota_user_id": user_id, "quota_day": day})).one()
    grant_images, grant_gpu, used_images, used_gpu, overridden, override_images, override_gpu = row
    images = override_images if override_images is not None else tier.images
    gpu = override_gpu if override_gpu is not None else tier.gpu_seconds
    return Usage(day=day, allowance=Budget(int(images + grant_images), float(gpu + grant_gpu)),
                 used=Budget(max(0, int(used_images)), max(0.0, float(used_gpu))), resets_at=next_reset(now),
                 overridden=bool(overridden))


async def check_quota(session: AsyncConnection, user_id: int, tier: Budget, cost: Budget, now: datetime) -> Usage:
    """Raise QuotaExceeded unless today's budget holds `cost` on top of what is used; call after lock_admission."""
    usage = await usage_in(session, user_id, tier, now)
    left = usage.left
    if cost.images > left.images:
        raise QuotaExceeded(f"This job needs {cost.images} image(s) of your daily quota and you have {left.images} "
                            f"of {usage.allowance.images} left.", usage.resets_at)
    if cost.gpu_seconds > left.gpu_seconds:
        raise QuotaExceeded(f"This job needs about {cost.gpu_seconds:.0f} GPU seconds of your daily quota and you "
                            f"have {left.gpu_seconds:.0f} of {usage.allowance.gpu_seconds:.0f} left.", usage.resets_at)
    return usage


async def reserve(session: AsyncConnection, user_id: int, job_id: int, cost: Budget, multiplier: float,
                  now: datetime) -> None:
    """Charge a new job's estimated cost (already multiplied) to today."""
    await session.execute(LEDGER.insert().values(
        user_id=user_id, job_id=job_id, day=utc_day(now), entry=LedgerEntry.reserved, images=cost.images,
        gpu_seconds=cost.gpu_seconds, multiplier=multiplier, created_at=now))


async def settle(session: AsyncConnection, job_id: int, gpu_seconds: float, now: datetime) -> None:
    """The job succeeded: replace its estimated GPU seconds with the measured ones (no-op without a reservation)."""
    reserved = LEDGER.alias("reserved")
    rows = select(reserved.c.user_id, reserved.c.job_id, reserved.c.day, literal(LedgerEntry.settled.value),
                  literal(0), literal(gpu_seconds) * reserved.c.multiplier - reserved.c.gpu_seconds,
                  reserved.c.multiplier, literal(now, type_=LEDGER.c.created_at.type)).where(
        reserved.c.job_id == job_id, reserved.c.entry == LedgerEntry.reserved)
    await _copy(session, rows)


async def refund(session: AsyncConnection, job_ids: Iterable[int], now: datetime) -> None:
    """The jobs failed or were cancelled: give their reservations back in full (no-op for jobs without one)."""
    ids = list(job_ids)
    if not ids:
        return
    reserved = LEDGER.alias("reserved")
    rows = select(reserved.c.user_id, reserved.c.job_id, reserved.c.day, literal(LedgerEntry.refunded.value),
                  -reserved.c.images, -reserved.c.gpu_seconds, reserved.c.multiplier,
                  literal(now, type_=LEDGER.c.created_at.type)).where(
        reserved.c.job_id.in_(ids), reserved.c.entry == LedgerEntry.reserved)
    await _copy(session, rows)


async def _copy(session: AsyncConnection, rows) -> None:
    columns = ["user_id", "job_id", "day", "entry", "images", "gpu_seconds", "multiplier", "created_at"]
    stmt = _insert(session).from_select(columns, rows).on_conflict_do_nothing(index_elements=["job_id", "entry"])
    await session.execute(stmt)


async def set_override_in(session: AsyncConnection, user_id: int, images_per_day: int | None,
                          gpu_seconds_per_day: float | None, by: int | None, now: datetime) -> None:
    """Replace a member's tier (a None key keeps the tier's value); both None removes the override."""
    await session.execute(delete(OVERRIDES).where(OVERRIDES.c.user_id == user_id))
    if images_per_day is None and gpu_seconds_per_day is None:
        return
    if (images_per_day is not None and images_per_day < 0) or (gpu_seconds_per_day is not None
                                                                and gpu_seconds_per_day < 0):
        raise ValueError(f"quota override must not be negative: {images_per_day!r}, {gpu_seconds_per_day!r}")
    await session.execute(OVERRIDES.insert().values(user_id=user_id, images_per_day=images_per_day,
                                                    gpu_seconds_per_day=gpu_seconds_per_day, set_by=by, set_at=now))


async def grant_in(session: AsyncConnection, user_id: int, images: int, gpu_seconds: float, by: int | None,
                   now: datetime) -> None:
    """Add a one-off amount to the member's budget for today (UTC)."""
    if images < 0 or gpu_seconds < 0 or (images == 0 and gpu_seconds == 0):
        raise ValueError(f"a grant must be positive: images={images!r}, gpu_seconds={gpu_seconds!r}")
    await session.execute(LEDGER.insert().values(
        user_id=user_id, job_id=None, day=utc_day(now), entry=LedgerEntry.granted, images=images,
        gpu_seconds=gpu_seconds, multiplier=1.0, by_user_id=by, created_at=now))


async def reset_in(session: AsyncConnection, user_id: int, by: int | None, now: datetime) -> None:
    """Forgive today's use so far (history stays in the ledger); overrides and grants are kept."""
    day = utc_day(now)
    not_granted = LEDGER.c.entry != LedgerEntry.granted
    stmt = select(func.coalesce(func.sum(LEDGER.c.images), 0), func.coalesce(func.sum(LEDGER.c.gpu_seconds), 0.0))
    images, gpu = (await session.execute(stmt.where(LEDGER.c.user_id == user_id, LEDGER.c.day == day,
                                                    not_granted))).one()
    if images or gpu:
        await session.execute(LEDGER.insert().values(
            user_id=user_id, job_id=None, day=day, entry=LedgerEntry.reset, images=-int(images),
            gpu_seconds=-float(gpu), multiplier=1.0, by_user_id=by, created_at=now))


class CostModel:
    """Estimates a job's GPU seconds from recent successes (seconds per megapixel-step per image), cached a minute."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._rate: float | None = None
        self._read_at = -math.inf

    async def estimate(self, session: AsyncConnection, images: int, steps: int, pixels: int) -> float:
        """Expected GPU seconds for a job of `images` images of `pixels` pixels with `steps` steps."""
        if self._monotonic() - self._read_at > CALIBRATION_SECONDS:
            self._rate = await self._learn(session)
            self._read_at = self._monotonic()
        rate = self._rate or DEFAULT_SECONDS_PER_MEGAPIXEL_STEP
        return rate * max(images, 1) * max(steps, 1) * max(pixels, 1) / 1e6

    async def _learn(self, session: AsyncConnection) -> float | None:
        stmt = (select(JOBS.c.params, JOBS.c.gpu_seconds)
                .where(JOBS.c.status == JobStatus.succeeded, JOBS.c.gpu_seconds.is_not(None))
                .order_by(JOBS.c.finished_at.desc()).limit(CALIBRATION_SAMPLE))
        rates = []
        for params, seconds in (await session.execute(stmt)).all():
            try:
                work = (len(params["seeds"]) * params["num_inference_steps"] * params["width"] * params["height"]
                        / 1e6)
            except (KeyError, TypeError):
                continue  # a job stored by an older version: skip it
            if work > 0 and seconds and seconds > 0:
                rates.append(seconds / work)
        return statistics.median(rates) if rates else None


class Quotas:
    """The quota functions, each in a transaction of its own (for /quota, /info and the /mod quota commands)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime]) -> None:
        self.engine, self._clock = engine, clock

    async def usage(self, user_id: int, tier: Budget) -> Usage:
        """Today's allowance, use and reset time for a member whose configured tier is `tier`."""
        with translated():
            async with self.engine.execution_options(**{READ_ONLY: True}).connect() as session:
                return await usage_in(session, user_id, tier, self._clock())

    async def set_override(self, user_id: int, images_per_day: int | None, gpu_seconds_per_day: float | None, *,
                           by: int | None = None) -> None:
        """A moderator's daily budget for one member (None keeps the tier's value; both None: back to the tier)."""
        with translated():
            async with write_turn(self.engine), self.engine.begin() as session:
                await set_override_in(session, user_id, images_per_day, gpu_seconds_per_day, by, self._clock())

    async def grant(self, user_id: int, images: int, gpu_seconds: float, *, by: int | None = None) -> None:
        """A one-off addition to a member's budget for today."""
        with translated():
            async with write_turn(self.engine), self.engine.begin() as session:
                await grant_in(session, user_id, images, gpu_seconds, by, self._clock())

    async def reset(self, user_id: int, *, by: int | None = None) -> None:
        """Forgive a member's use so far today."""
        with translated():
            async with write_turn(self.engine), self.engine.begin() as session:
                await reset_in(session, user_id, by, self._clock())
