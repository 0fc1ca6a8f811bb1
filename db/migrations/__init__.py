"""Alembic migrations of the queue's schema, runnable from code: `await upgrade(url)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from db.engine import make_engine
from db.errors import translated

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config built in code, so no alembic.ini is needed in the caller's working directory."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")  # paths may contain spaces or commas
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the latest)."""
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` ("base": no tables)."""
    await _run(url, command.downgrade, revision)


async def _run(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    engine = make_engine(url)
    try:
        with translated():
            async with engine.begin() as connection:
                await connection.run_sync(_on_connection, step, revision)
    finally:
        await engine.dispose()


def _on_connection(connection: Connection, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection  # env.py runs on this connection instead of opening its own
    step(config, revision)
