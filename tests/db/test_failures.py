"""Trouble with the database itself: locked, unreachable, restarted, full. Clear errors, nothing lost."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from db.engine import make_engine
from db.errors import QueueBusy, QueueFull, StorageFull
from db.models import JobStatus
from db.queue import Queue
from tests.db.conftest import FakeClock, new_job


async def test_sqlite_locked_longer_than_the_busy_timeout_is_queue_busy(sqlite_url: str, sqlite_path: Path) -> None:
    """Another writer holding the lock past the busy timeout gives QueueBusy after waiting; nothing is lost."""
    engine = make_engine(sqlite_url, busy_timeout_seconds=0.3)
    queue = Queue(engine)
    try:
        kept = (await queue.enqueue(new_job(interaction_id=1))).job
        blocker = sqlite3.connect(sqlite_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(QueueBusy, match="busy timeout"):
            await queue.enqueue(new_job(interaction_id=2))
        assert time.monotonic() - started >= 0.25  # it waited for the lock instead of failing at once
        with pytest.raises(QueueBusy):
            await queue.claim("w1")
        assert (await queue.get(kept.id)) == kept  # reads go on during the lock (WAL)
        blocker.execute("ROLLBACK")
        blocker.close()
        retried = await queue.enqueue(new_job(interaction_id=2))
        assert retried.created and (await queue.counts())[JobStatus.queued] == 2
    finally:
        await engine.dispose()


async def test_sqlite_writer_waits_within_the_busy_timeout(sqlite_url: str, sqlite_path: Path) -> None:
    """A lock released before the busy timeout only delays the write."""
    engine = make_engine(sqlite_url, busy_timeout_seconds=5)
    queue = Queue(engine)
    try:
        blocker = sqlite3.connect(sqlite_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        pending = asyncio.create_task(queue.enqueue(new_job(interaction_id=1)))
        await asyncio.sleep(0.3)
        assert not pending.done()
        blocker.execute("COMMIT")
        blocker.close()
        assert (await pending).created
    finally:
        await engine.dispose()


async def test_sqlite_disk_full_is_storage_full_and_harms_nothing(sqlite_url: str, sqlite_path: Path) -> None:
    """SQLITE_FULL (here from a page limit) gives StorageFull; the jobs already stored stay intact."""
    pages = sqlite3.connect(sqlite_path).execute("PRAGMA page_count").fetchone()[0]
    engine = make_engine(sqlite_url)

    @event.listens_for(engine.sync_engine, "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute(f"PRAGMA max_page_count = {pages + 8}")

    queue = Queue(engine)
    stored = []
    try:
        with pytest.raises(StorageFull, match="storage is full"):
            for i in range(1000):
                stored.append((await queue.enqueue(new_job(interaction_id=i, prompt="x" * 3000))).job)
        assert 0 < len(stored) < 1000
        assert (await queue.counts())[JobStatus.queued] == len(stored)
        assert [await queue.get(job.id) for job in stored] == stored
        job = await queue.claim("w1")  # updates in place still work
        assert job is not None and await queue.succeed(job.id, job.claim_token, "/out", 1.0)
    finally:
        await engine.dispose()


async def test_postgres_disk_full_is_storage_full(postgres_url: str, clock: FakeClock) -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100, raised here by a trigger) gives StorageFull."""
    engine = make_engine(postgres_url)
    queue = Queue(engine, clock=clock)
    try:
        kept = (await queue.enqueue(new_job())).job
        async with engine.begin() as connection:
            await connection.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
                "END $$"))
            await connection.execute(text("CREATE TRIGGER disk_full BEFORE INSERT ON jobs "
                                            "FOR EACH ROW EXECUTE FUNCTION refuse()"))
        with pytest.raises(StorageFull, match="No space left"):
            await queue.enqueue(new_job())
        assert await queue.get(kept.id) == kept
    finally:
        await engine.dispose()


async def test_unreachable_postgres_is_queue_busy() -> None:
    """No server at the URL: QueueBusy (retriable), not a driver exception."""
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test", busy_timeout_seconds=1)
    try:
        with pytest.raises(QueueBusy, match="retry later"):
            await Queue(engine).enqueue(new_job())
    finally:
        await engine.dispose()


async def test_postgres_connections_killed_under_the_queue(postgres_url: str, postgres_server: str) -> None:
    """Server-side termination of every connection (as in a restart): the queue reconnects, nothing lost."""
    engine = make_engine(postgres_url)
    queue = Queue(engine)
    schema = postgres_url.rsplit("application_name=", 1)[1].split("&")[0]
    admin = make_engine(postgres_server)
    try:
        ids = [(await queue.enqueue(new_job(interaction_id=i))).job.id for i in range(5)]
        async with admin.begin() as connection:
            killed = (await connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": schema})).scalar()
        assert killed >= 1
        deadline = time.monotonic() + 10
        while True:
            try:
                job = await queue.claim("w1")
                break
            except QueueBusy:
                assert time.monotonic() < deadline, "the queue did not reconnect within 10 s"
                await asyncio.sleep(0.1)
        assert job.id == ids[0] and (await queue.counts())[JobStatus.queued] == 4
    finally:
        await admin.dispose()
        await engine.dispose()


async def test_max_queued_refuses_new_jobs_with_queue_full(db_url: str) -> None:
    """A configured cap on queued jobs gives QueueFull, naming the cap."""
    engine = make_engine(db_url)
    queue = Queue(engine, max_queued=2)
    try:
        for i in range(2):
            await queue.enqueue(new_job(interaction_id=i))
        with pytest.raises(QueueFull, match="max_queued=2"):
            await queue.enqueue(new_job(interaction_id=3))
        assert not (await queue.enqueue(new_job(interaction_id=1))).created  # a retried interaction still gets its job
        assert (await queue.counts())[JobStatus.queued] == 2
    finally:
        await engine.dispose()
