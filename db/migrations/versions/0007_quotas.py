"""Quota ledger and per-member quota overrides.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quota_ledger",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", BigId, sa.ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entry", sa.Enum("reserved", "settled", "refunded", "granted", "reset", name="ledgerentry",
                                   native_enum=False, length=16), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("gpu_seconds", sa.Float(), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("job_id", "entry", name="uq_quota_ledger_job_entry"),
    )
    op.create_index("ix_quota_ledger_user_day", "quota_ledger", ["user_id", "day"])
    op.create_table(
        "quota_overrides",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("images_per_day", sa.Integer(), nullable=True),
        sa.Column("gpu_seconds_per_day", sa.Float(), nullable=True),
        sa.Column("set_by", sa.BigInteger(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quota_overrides")
    op.drop_index("ix_quota_ledger_user_day", table_name="quota_ledger")
    op.drop_table("quota_ledger")
