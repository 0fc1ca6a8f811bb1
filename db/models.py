"""The durable queue's table: one row per job, from the interaction that asked for it to its delivery."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(enum.StrEnum):
    """Where a job is in its life; see docs/QUEUE.md for the transitions."""

    queued = "queued"  # waiting for a worker (maybe until run_after, when backing off a retry)
    running = "running"  # claimed by worker_id under claim_token until lease_expires_at, renewed by heartbeats
    succeeded = "succeeded"  # images written to result_dir; waits for delivery
    failed = "failed"  # gave up: error says why (non-retriable, out of attempts, or poison job)
    cancelled = "cancelled"  # cancelled by its user before or while it ran


class JobKind(enum.StrEnum):
    """What a job asks the generator for."""

    imagine = "imagine"  # a new 2x2 grid from a prompt
    variation = "variation"  # a grid of variations of one parent tile
    refine = "refine"  # one parent tile, 2x and refined (the U buttons)
    reroll = "reroll"  # the parent's prompt again with new seeds
    img2img = "img2img"  # a new grid from an uploaded image and a prompt
    enhance = "enhance"  # one tile of a fast grid re-rendered by the full model from the same seed
    outpaint = "outpaint"  # Zoom Out, Pan or Make Square on an upscaled image: a grid painted around it
    inpaint = "inpaint"  # Vary (Region) on an upscaled image: a grid with one area repainted


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite stores naive text and would drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the queue stores timezone-aware UTC timestamps only")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text, so every stored value must be UTC in one format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Plain VARCHAR on both databases: adding a member later needs no ALTER TYPE.
    return Enum(cls, native_enum=False, length=16, validate_strings=True)


class Base(DeclarativeBase):
    """Declarative base of the queue's tables."""


class Job(Base):
    """One request for images, from the interaction that asked for it to the message that delivered it."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The claim walks queued jobs in fair order and stops at the first that may run: O(1), not a sort.
        Index("ix_jobs_claim", "status", "vtime", "id"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_user_vtime", "user_id", "vtime"),  # a user's previous job, for the next one's vtime
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_started_at", "started_at"),
        Index("ix_jobs_status_finished_at", "status", "finished_at"),
        Index("ix_jobs_result_message_id", "result_message_id"),  # "/cancel <message link>" and the like
        # Idempotent enqueue: a retried interaction finds its job instead of creating a second one.
        UniqueConstraint("interaction_id", name="uq_jobs_interaction_id"),
    )

    # identity
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    interaction_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    parent_job_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="SET NULL"))
    parent_tile: Mapped[int | None] = mapped_column(Integer)
    # request
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base_seed: Mapped[int] = mapped_column(BigInteger, default=0)
    model: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[float] = mapped_column(Float, default=1.0)
    # fair order: the job's virtual start time, stamped at enqueue (db/fairness.py); lowest goes first
    vtime: Mapped[float] = mapped_column(Float, default=0.0)
    # life
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    kills: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    progress_step: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    # results
    result_dir: Mapped[str | None] = mapped_column(Text)
    gpu_seconds: Mapped[float | None] = mapped_column(Float)
    # the NSFW classifier's score (0-1) of each output image, in tile order; None when not scored
    nsfw_scores: Mapped[list[float] | None] = mapped_column(JSON)
    # delivery
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a retry waits until then (429, 5xx)
    delivery_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first failed attempt, for the time limit
    delivery_failed: Mapped[str | None] = mapped_column(Text)  # why the result never reached its channel (for /info)
    # data lifecycle: when the pruner deleted this job's images (data.keep_days); the row itself stays
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ModerationAction(Base):
    """The audit trail: one row per moderator action (who, what, whom, when, why); never updated or deleted."""

    __tablename__ = "moderation_actions"
    __table_args__ = (
        Index("ix_moderation_actions_guild_created", "guild_id", "created_at"),
        Index("ix_moderation_actions_target_created", "target_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    moderator_id: Mapped[int] = mapped_column(BigInteger)
    # "ban", "unban", "cancel", "purge", "quota.set", "quota.grant", "quota.reset", ... (db/moderation.py)
    action: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    # what changed, as plain values (cancelled job ids, new quota figures, the ban's end)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Ban(Base):
    """A member barred from the bot in one guild, until expires_at (None: until unbanned)."""

    __tablename__ = "bans"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    moderator_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PromptBlock(Base):
    """A prompt the filter refused: what was asked, where, by whom, and what became of its appeal."""

    __tablename__ = "prompt_blocks"
    __table_args__ = (Index("ix_prompt_blocks_user_appealed", "user_id", "appealed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    role_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # the job it would have been ("imagine", "img2img", "refine") and its full request, to queue it as asked
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    prompt: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rule: Mapped[str] = mapped_column(Text)  # the configured word or pattern; shown to moderators only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "allowed" (queued once, as job_id) or "kept"; set once, by one moderator
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_id: Mapped[int | None] = mapped_column(BigInteger)


class NsfwHold(Base):
    """A flagged result kept from its channel until a moderator releases or deletes it."""

    __tablename__ = "nsfw_holds"

    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True,
                                        autoincrement=False)
    log_message_id: Mapped[int | None] = mapped_column(BigInteger)  # the real result, in the moderator log
    state: Mapped[str] = mapped_column(String(16), default="held")  # "held", "released" or "deleted"
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberSetting(Base):
    """One member's /settings in one guild (guild_id 0 in direct messages); absent columns mean the server default."""

    __tablename__ = "member_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    aspect: Mapped[str | None] = mapped_column(String(16))  # "16:9", applied as --ar when a prompt has none
    variation: Mapped[str | None] = mapped_column(String(8))  # "subtle" or "strong", for V buttons and /vary
    suffix: Mapped[str] = mapped_column(Text, default="")  # appended to every prompt
    remix: Mapped[bool] = mapped_column(Boolean, default=False)  # V and re-roll open an edit box first
    dm_results: Mapped[bool] = mapped_column(Boolean, default=False)  # finished results also come by DM
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkerBeat(Base):
    """One row per worker: when it started and when it last said it was alive (monitoring and /healthz)."""

    __tablename__ = "workers"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(enum.StrEnum):
    """What one quota ledger row records; a member's use on a UTC day is the sum of that day's rows."""

    reserved = "reserved"  # a job's estimated cost, charged when it was queued
    settled = "settled"  # the job ended: measured cost minus the reservation
    refunded = "refunded"  # the job failed or was cancelled: minus the reservation
    granted = "granted"  # a moderator's one-off grant: minus this much use
    reset = "reset"  # a moderator's reset: minus the day's use so far


class QuotaLedger(Base):
    """Quota use as rows, never counters: a crash between two steps can't charge a member twice or not at all."""

    __tablename__ = "quota_ledger"
    __table_args__ = (
        Index("ix_quota_ledger_user_day", "user_id", "day"),
        # One reservation, one settlement or refund per job: a repeated step inserts nothing.
        UniqueConstraint("job_id", "entry", name="uq_quota_ledger_job_entry"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="SET NULL"))
    day: Mapped[date] = mapped_column(Date)  # the UTC day charged: the day the job was queued
    entry: Mapped[LedgerEntry] = mapped_column(_enum(LedgerEntry))
    images: Mapped[int] = mapped_column(Integer)
    gpu_seconds: Mapped[float] = mapped_column(Float)
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)  # the channel profile's quota_multiplier
    by_user_id: Mapped[int | None] = mapped_column(BigInteger)  # the moderator, for grants and resets
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuotaOverride(Base):
    """A moderator's per-member daily budget; a None key keeps the member's tier for it."""

    __tablename__ = "quota_overrides"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    images_per_day: Mapped[int | None] = mapped_column(Integer)
    gpu_seconds_per_day: Mapped[float | None] = mapped_column(Float)
    set_by: Mapped[int | None] = mapped_column(BigInteger)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
