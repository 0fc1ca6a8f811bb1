"""The jobs table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *members: str) -> sa.Enum:
    # VARCHAR(16) on both databases, as db.models declares it
    return sa.Enum(*members, name=name, native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("interaction_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("parent_job_id", BigId, sa.ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("parent_tile", sa.Integer(), nullable=True),
        sa.Column("kind", _enum("jobkind", "imagine", "variation", "refine", "upscale", "reroll", "img2img"),
                  nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("base_seed", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("vtime", sa.Float(), nullable=False),
        sa.Column("status", _enum("jobstatus", "queued", "running", "succeeded", "failed", "cancelled"),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("kills", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress_step", sa.Integer(), nullable=True),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("result_dir", sa.Text(), nullable=True),
        sa.Column("gpu_seconds", sa.Float(), nullable=True),
        sa.Column("status_message_id", sa.BigInteger(), nullable=True),
        sa.Column("result_message_id", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.UniqueConstraint("interaction_id", name="uq_jobs_interaction_id"),
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", "vtime", "id"])
    op.create_index("ix_jobs_user_status", "jobs", ["user_id", "status"])
    op.create_index("ix_jobs_user_vtime", "jobs", ["user_id", "vtime"])
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"])
    op.create_index("ix_jobs_started_at", "jobs", ["started_at"])
    op.create_index("ix_jobs_status_finished_at", "jobs", ["status", "finished_at"])
    op.create_index("ix_jobs_result_message_id", "jobs", ["result_message_id"])


def downgrade() -> None:
    for index in ("ix_jobs_result_message_id", "ix_jobs_status_finished_at", "ix_jobs_started_at",
                  "ix_jobs_user_created", "ix_jobs_user_vtime", "ix_jobs_user_status", "ix_jobs_claim"):
        op.drop_index(index, table_name="jobs")
    op.drop_table("jobs")
