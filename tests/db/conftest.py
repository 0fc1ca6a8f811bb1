"""Every queue test runs twice: on a temp-file SQLite database and on PostgreSQL in a schema of its own.

PostgreSQL comes from TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test). Without it the
PostgreSQL half skips, unless CI is set: then a missing or unreachable server fails the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.engine import make_engine
from db.migrations import upgrade
from db.queue import Queue
from db.views import NewJob

PG_ENV = "TEST_POSTGRES_URL"


class FakeClock:
    """A clock the test moves by hand: leases expire and backoffs pass without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


async def _ping(url: str) -> None:
    engine = make_engine(url, busy_timeout_seconds=3)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def check_postgres(url: str | None, ci: bool) -> str:
    """The URL if its server answers; otherwise skip (locally) or fail (under CI) with the reason."""
    stop = pytest.fail if ci else pytest.skip
    if not url:
        reason = f"PostgreSQL tests need {PG_ENV}, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        stop(f"CI is set but {reason}" if ci else reason)
    try:
        # A thread of its own: this may be set up from inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _ping(url)).result(timeout=10)
    except Exception as error:  # any failure to connect counts as unreachable
        stop(f"PostgreSQL at {PG_ENV} is unreachable: {error!r}")
    return url


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL from the environment, checked once per run."""
    return check_postgres(os.environ.get(PG_ENV), ci=bool(os.environ.get("CI")))


async def _admin(url: str, sql: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _schema(server_url: str) -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path (and application_name) is a fresh schema, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE SCHEMA "{schema}"')
    url = make_url(server_url).update_query_dict({"search_path": schema, "application_name": schema})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await _admin(server_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE application_name = '{schema}' AND pid <> pg_backend_pid()")
        await _admin(server_url, f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """An empty, migrated PostgreSQL schema (for tests about PostgreSQL only)."""
    async with _schema(postgres_server) as url:
        await upgrade(url)
        yield url


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A SQLite file in a folder that does not exist yet (make_engine creates it)."""
    return tmp_path / "data" / "queue.db"


@pytest.fixture
async def sqlite_url(sqlite_path: Path) -> str:
    """An empty, migrated SQLite database (for tests about SQLite only)."""
    url = f"sqlite+aiosqlite:///{sqlite_path}"
    await upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, sqlite_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind, migrated to the latest schema."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{sqlite_path}"
        await upgrade(url)
        yield url
        return
    async with _schema(request.getfixturevalue("postgres_server")) as url:
        await upgrade(url)
        yield url


@pytest.fixture
def clock() -> FakeClock:
    """The queue's clock."""
    return FakeClock()


@pytest.fixture
async def queue(db_url: str, clock: FakeClock) -> AsyncIterator[Queue]:
    """A Queue on each database, with a hand-moved clock and a seeded random source."""
    engine = make_engine(db_url)
    try:
        yield Queue(engine, clock=clock, lease_seconds=60, max_attempts=3, poison_kills=2, rng=random.Random(7))
    finally:
        await engine.dispose()


def new_job(user_id: int = 1, interaction_id: int | None = None, **overrides: object) -> NewJob:
    """A NewJob with test defaults."""
    values: dict[str, object] = {
        "interaction_id": interaction_id, "user_id": user_id, "guild_id": 100, "channel_id": 200,
        "kind": "imagine", "prompt": f"a lighthouse, user {user_id}",
    }
    values.update(overrides)
    return NewJob(**values)  # type: ignore[arg-type]
