"""Delivery that outlasts Discord: when a retry may run, since when delivery fails, and why it gave up.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("delivery_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivery_error_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivery_failed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("delivery_failed")
        batch.drop_column("delivery_error_at")
        batch.drop_column("delivery_due_at")
