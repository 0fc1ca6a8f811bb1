"""Per-member defaults set with /settings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_settings",
        sa.Column("guild_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("aspect", sa.String(16), nullable=True),
        sa.Column("variation", sa.String(8), nullable=True),
        sa.Column("suffix", sa.Text(), nullable=False),
        sa.Column("remix", sa.Boolean(), nullable=False),
        sa.Column("dm_results", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("member_settings")
