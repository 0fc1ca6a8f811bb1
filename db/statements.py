"""The hot statements (enqueue, claim), built once with bind parameters.

Rebuilding them per call cost about a millisecond of Python each (SQLAlchemy re-walks every clause to find its
compiled form); built once, only the parameters change.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, Insert, Integer, Update, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db import fairness
from db.fairness import JOBS
from db.models import JobStatus

# Columns a new job's row gets from NewJob.row(); vtime is computed in the statement itself.
NEW_JOB_COLUMNS = (
    "interaction_id", "user_id", "guild_id", "channel_id", "parent_job_id", "parent_tile", "kind", "prompt",
    "negative_prompt", "params", "base_seed", "model", "priority", "status", "attempts", "kills", "claim_token",
    "cancel_requested", "run_after", "created_at", "delivery_attempts",
)


@functools.cache
def insert_job(dialect: str) -> Insert:
    """INSERT one job (parameters `new_<column>`), skipping a duplicate interaction, RETURNING it and its standing."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in NEW_JOB_COLUMNS}
    values["vtime"] = fairness.next_vtime(bindparam("new_user_id", type_=BigInteger))
    return (
        insert(JOBS)
        .values(values)
        .on_conflict_do_nothing(index_elements=[JOBS.c.interaction_id])
        .returning(*JOBS.c, *fairness.STANDING_OF_NEW_ROW)
    )


def insert_job_params(row: dict[str, Any]) -> dict[str, Any]:
    """Parameters of insert_job() for NewJob.row()'s values."""
    return {f"new_{name}": row[name] for name in NEW_JOB_COLUMNS}


# Parameters: claim_now, claim_worker, claim_lease_expires_at, claim_max_running (per member).
CLAIM: Update = (
    update(JOBS)
    .where(JOBS.c.id == fairness.next_job_id(bindparam("claim_now"),
                                             bindparam("claim_max_running", type_=Integer)).scalar_subquery(),
           JOBS.c.status == JobStatus.queued)
    .values(
        status=JobStatus.running, claim_token=JOBS.c.claim_token + 1, attempts=JOBS.c.attempts + 1,
        worker_id=bindparam("claim_worker"), started_at=bindparam("claim_now"),
        lease_expires_at=bindparam("claim_lease_expires_at"), progress_step=None, progress_total=None,
    )
    .returning(*JOBS.c)
)
