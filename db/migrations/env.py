"""Alembic environment: runs on the connection handed in by db.migrations.upgrade, or on its own async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from db.engine import make_engine
from db.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    """Run the migrations on a (sync-facing) connection; batch mode lets SQLite alter tables."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    """`alembic -x`-style use from the command line: open an engine for the configured URL."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
elif context.is_offline_mode():
    run_offline(config.get_main_option("sqlalchemy.url") or "")
else:
    asyncio.run(run_with_own_engine(config.get_main_option("sqlalchemy.url") or ""))
