"""The fair order: weighted round-robin across users, by virtual start times stamped at enqueue.

Every job gets a virtual start time `jobs.vtime` when it is enqueued, and the claim takes the queued job with the
lowest one (then the lowest id). A user's jobs are spaced 1/priority apart, so with weight 2 a user's jobs come twice
as densely and they are served twice as often as a user at weight 1, and two backlogged users alternate.

A user's next job starts at `max(their previous job's vtime + 1/its priority, V)`, where V, the queue's virtual
"now", is the vtime of the job that started most recently. So a user who was idle banks no credit: they come back at
V, ahead of every job queued behind it (their job starts next), then take turns; a user with a long backlog cannot
push newcomers behind it. Retried and handed-back jobs keep their vtime, and so their place.

Stamping at enqueue keeps the claim one indexed statement (no sort, no join, no second table) on both databases, and
the enqueue one INSERT whose subqueries read the user's previous job and V.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, Integer, Select, Table, case, func, literal_column, select

from db.models import Job, JobStatus

JOBS: Table = Job.__table__  # type: ignore[assignment]
ACTIVE = (JobStatus.queued, JobStatus.running)
# Aliases for subqueries beside the jobs row being written (so SQLAlchemy does not correlate them away); built once,
# since an alias copies every column.
CANDIDATE = JOBS.alias("candidate")
PREVIOUS = JOBS.alias("previous")
OTHER = JOBS.alias("other")
OWNER_RUNNING = JOBS.alias("owner_running")


def next_job_id(now: object, max_running: object) -> Select[tuple[int]]:
    """The id of the job to claim now; FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite drops it and needs none).

    A member with `max_running` jobs running already is skipped (ix_jobs_user_status answers the count), so the
    next member's job runs instead of the claim waiting on them.
    """
    running = (select(func.count()).select_from(OWNER_RUNNING)
               .where(OWNER_RUNNING.c.user_id == CANDIDATE.c.user_id, OWNER_RUNNING.c.status == JobStatus.running))
    return (
        select(CANDIDATE.c.id)
        .where(CANDIDATE.c.status == JobStatus.queued, CANDIDATE.c.run_after <= now,
               running.scalar_subquery() < max_running)
        .order_by(CANDIDATE.c.vtime, CANDIDATE.c.id)  # walks ix_jobs_claim; stops at the first that may run
        .limit(1)
        .with_for_update(skip_locked=True, of=CANDIDATE)
    )


def _virtual_now() -> ColumnElement[float]:
    """V: the vtime of the job that started most recently (0 before any did)."""
    latest = select(PREVIOUS.c.vtime).where(PREVIOUS.c.started_at.is_not(None))
    latest = latest.order_by(PREVIOUS.c.started_at.desc(), PREVIOUS.c.id.desc()).limit(1)
    return func.coalesce(latest.scalar_subquery(), 0.0)


def next_vtime(user_id: int | BindParameter[int]) -> ColumnElement[float]:
    """SQL for the virtual start time of a user's new job: max(previous + 1/its priority, V).

    Their previous job is the one with the highest vtime, except jobs cancelled before they started. On SQLite the
    write lock makes reading it and inserting the new job atomic; on PostgreSQL two enqueues by one user in the same
    instant may both follow the same previous job: a tie, broken by id, and nothing worse.
    """
    now = _virtual_now()
    never_ran = (PREVIOUS.c.status == JobStatus.cancelled) & PREVIOUS.c.started_at.is_(None)
    following = (
        select(PREVIOUS.c.vtime + 1.0 / PREVIOUS.c.priority)
        .where(PREVIOUS.c.user_id == user_id, ~never_ran)
        .order_by(PREVIOUS.c.vtime.desc())  # walks ix_jobs_user_vtime backwards
        .limit(1)
        .scalar_subquery()
    )
    return case((following > now, following), else_=now)  # no previous job: NULL > V is not true, so V


def standing(vtime: float, job_id: int) -> Select[tuple[int, int]]:
    """`ahead` (queued jobs before this one in the claim's order) and `running`: what position and ETA need."""
    before = (OTHER.c.vtime < vtime) | ((OTHER.c.vtime == vtime) & (OTHER.c.id < job_id))
    ahead = select(func.count()).select_from(OTHER).where(OTHER.c.status == JobStatus.queued, before)
    running = select(func.count()).select_from(OTHER).where(OTHER.c.status == JobStatus.running)
    return select(ahead.scalar_subquery().label("ahead"), running.scalar_subquery().label("running"))


# The same two, as columns of the enqueue's RETURNING, for the row just inserted. Written out because SQLAlchemy's
# SQLite compiler drops table names inside RETURNING, which would make these correlated subqueries ambiguous.
STANDING_OF_NEW_ROW = [
    literal_column(
        "(SELECT count(*) FROM jobs AS other WHERE other.status = 'queued' AND "
        "(other.vtime < jobs.vtime OR (other.vtime = jobs.vtime AND other.id < jobs.id)))", Integer
    ).label("ahead"),
    literal_column("(SELECT count(*) FROM jobs AS other WHERE other.status = 'running')", Integer).label("running"),
]
