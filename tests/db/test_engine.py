"""make_engine: WAL and BEGIN IMMEDIATE on SQLite, server settings from a PostgreSQL URL, clear URL errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine


async def test_sqlite_engine_uses_wal_and_creates_the_folder(tmp_path: Path) -> None:
    """The parent folder is created; connections run in WAL mode with the configured busy timeout."""
    path = tmp_path / "nested" / "deeper" / "queue.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_seconds=2.5)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 2500
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 4000
    finally:
        await engine.dispose()
    assert path.exists()


async def test_sqlite_write_transactions_begin_immediate(tmp_path: Path) -> None:
    """A transaction holds the write lock from its start, so a second writer cannot slip in before it."""
    path = tmp_path / "queue.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_seconds=0.1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))  # a read only: a deferred BEGIN would take no lock yet
            other = sqlite3.connect(path, timeout=0.05)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite+aiosqlite://", "SQLite file"),
        ("sqlite+aiosqlite:///:memory:", "SQLite file"),
        ("sqlite:///x.db", "aiosqlite"),
        ("postgresql+psycopg2://h/db", "asyncpg"),
        ("mysql+aiomysql://h/db", "unsupported database URL"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    """URLs the queue cannot use fail at once, naming what to use instead."""
    with pytest.raises(ValueError, match=message):
        make_engine(url)


async def test_postgres_url_carries_search_path_and_application_name(postgres_url: str) -> None:
    """search_path and application_name in the URL's query become server settings (how tests get a schema)."""
    engine = make_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            search_path = (await connection.execute(text("SHOW search_path"))).scalar()
            application = (await connection.execute(text("SHOW application_name"))).scalar()
            tables = (await connection.execute(text("SELECT to_regclass('jobs') IS NOT NULL"))).scalar()
    finally:
        await engine.dispose()
    assert search_path.startswith("test_") and application == search_path and tables


async def test_sqlite_writers_of_one_process_take_turns_in_order(tmp_path: Path) -> None:
    """Writers that meet on the lock write in the order they came, none waiting in SQLite's polling busy handler
    (whose sleeps made one of a burst of commands wait 2.5 s); a turn not had within the busy timeout is
    QueueBusy."""
    import asyncio

    from db.engine import write_turn
    from db.errors import QueueBusy

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}", busy_timeout_seconds=0.5)
    order: list[int] = []
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))

        async def write(n: int) -> None:
            async with write_turn(engine), engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                await asyncio.sleep(0.01)  # hold the lock across an await, as a real unit of work does
                order.append(n)

        async with write_turn(engine):  # the first writer holds its turn while the others queue behind it
            writers = []
            for n in range(8):
                writers.append(asyncio.create_task(write(n)))
                await asyncio.sleep(0.005)
        await asyncio.gather(*writers)
        assert order == list(range(8))
        async with write_turn(engine):
            with pytest.raises(QueueBusy, match="no turn to write within 0.5 s"):
                await write(99)
    finally:
        await engine.dispose()
