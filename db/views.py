"""Frozen values the queue takes and returns; callers never see live ORM objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.models import Job, JobKind, JobStatus


@dataclass(frozen=True)
class NewJob:
    """A request to enqueue; interaction_id makes it idempotent (None for jobs not from an interaction)."""

    interaction_id: int | None
    user_id: int
    guild_id: int | None
    channel_id: int | None
    kind: JobKind | str
    prompt: str
    negative_prompt: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    base_seed: int = 0
    model: str = ""
    parent_job_id: int | None = None
    parent_tile: int | None = None
    priority: float = 1.0

    def __post_init__(self) -> None:
        if not self.priority > 0:  # also rejects NaN
            raise ValueError(f"priority must be a positive weight, got {self.priority!r}")
        if self.parent_tile is not None and not 1 <= self.parent_tile <= 4:
            raise ValueError(f"parent_tile must be 1-4, got {self.parent_tile!r}")
        object.__setattr__(self, "kind", JobKind(self.kind))  # raises ValueError naming the bad kind

    def row(self, now: datetime) -> dict[str, Any]:
        """Column values of the new jobs row (its vtime is computed by the INSERT)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(params=dict(self.params), status=JobStatus.queued, attempts=0, kills=0, claim_token=0,
                      cancel_requested=False, run_after=now, created_at=now, delivery_attempts=0)
        return values


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job row, every column; `params` is a plain dict."""

    id: int
    interaction_id: int | None
    user_id: int
    guild_id: int | None
    channel_id: int | None
    parent_job_id: int | None
    parent_tile: int | None
    kind: JobKind
    prompt: str
    negative_prompt: str
    params: dict[str, Any]
    base_seed: int
    model: str
    priority: float
    vtime: float
    status: JobStatus
    attempts: int
    kills: int
    claim_token: int
    lease_expires_at: datetime | None
    worker_id: str | None
    cancel_requested: bool
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    progress_step: int | None
    progress_total: int | None
    result_dir: str | None
    gpu_seconds: float | None
    nsfw_scores: list[float] | None
    status_message_id: int | None
    result_message_id: int | None
    delivered_at: datetime | None
    delivery_attempts: int
    delivery_due_at: datetime | None
    delivery_error_at: datetime | None
    delivery_failed: str | None
    pruned_at: datetime | None = None  # the images were deleted (data.keep_days); the row stays

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> JobView:
        """Build from a row mapping of the jobs table (e.g. `RETURNING jobs.*`)."""
        values = {name: row[name] for name in _FIELDS}
        values["params"] = dict(values["params"] or {})
        values["kind"] = JobKind(values["kind"])
        values["status"] = JobStatus(values["status"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        values["priority"] = float(values["priority"])  # SQLite's RETURNING hands back 1.0 as 1
        values["vtime"] = float(values["vtime"])
        if values["gpu_seconds"] is not None:
            values["gpu_seconds"] = float(values["gpu_seconds"])
        return cls(**values)

    @property
    def finished(self) -> bool:
        """True once the job can no longer change by itself (succeeded, failed or cancelled)."""
        return self.status in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


_FIELDS = tuple(f.name for f in dataclasses.fields(JobView))
assert set(_FIELDS) == set(Job.__table__.columns.keys()), "JobView must mirror the jobs table"


@dataclass(frozen=True)
class Enqueued:
    """The result of enqueue: the job, whether this call created it, and where it stands."""

    job: JobView
    created: bool
    position: int  # 1-based place among queued jobs in the fair order; 0 when it is not queued
    eta_seconds: float | None  # until it finishes, from recent durations; None without history


@dataclass(frozen=True)
class Waiting:
    """A queued job and where it stands: its 1-based place in the fair order and ETA (None without history)."""

    job: JobView
    position: int
    eta_seconds: float | None


@dataclass(frozen=True)
class Heartbeat:
    """What a worker learns from a heartbeat; truthy while it still holds the job."""

    held: bool  # False: the lease was lost (expired and reclaimed, or finished elsewhere): stop, write nothing
    cancel_requested: bool  # True: the user cancelled; stop and call Queue.finish_cancelled

    def __bool__(self) -> bool:
        return self.held
