"""Async engines for SQLite (default, one host) and PostgreSQL (scale-out), configured the same way."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db.errors import QueueBusy

# Query parameters of a PostgreSQL URL that become asyncpg `server_settings`, so a whole configuration (including a
# schema, as the tests use) fits in one DATABASE_URL: postgresql+asyncpg://host/db?search_path=imagine
SERVER_SETTING_PARAMS = ("search_path", "application_name")

# Execution option that marks a read-only unit of work; on SQLite it begins with a plain (deferred) BEGIN.
READ_ONLY = "imagine_read_only"


def display_url(url: str) -> str:
    """The URL as logs and terminals may show it: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not even a URL: show none of it rather than risk a secret
        return "<unparsable database URL>"


def redact(text: str, url: str) -> str:
    """`text` (an error message, say) with the URL's password, if it has one, replaced by ***."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    return text.replace(str(password), "***") if password else text


def make_engine(
    url: str,
    *,
    busy_timeout_seconds: float = 5.0,
    wal_autocheckpoint_pages: int = 4000,
    pool_size: int = 5,
    echo: bool = False,
) -> AsyncEngine:
    """An AsyncEngine for `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_seconds, wal_autocheckpoint_pages, echo)
    if backend == "postgresql":
        return _postgres_engine(parsed, busy_timeout_seconds, pool_size, echo)
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                     "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")


def _sqlite_engine(url: URL, busy_timeout_seconds: float, checkpoint_pages: int, echo: bool) -> AsyncEngine:
    if url.get_driver_name() != "aiosqlite":
        raise ValueError(f"SQLite URLs need the aiosqlite driver (sqlite+aiosqlite:///path), got {url.drivername!r}")
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ValueError(f"the queue needs a SQLite file, not {database or 'an in-memory database'!r}: "
                         "aiosqlite shares one connection for :memory:, which hides locking bugs")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    # `timeout` is sqlite3's busy handler: a writer waits this long for the lock, then raises "database is locked".
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_timeout_seconds})
    _WRITE_TURNS[engine.sync_engine] = _WriteTurns(busy_timeout_seconds)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own (deferred) BEGIN; _on_begin below emits ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across process crashes, fast commits
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        # The commit that crosses this many WAL pages copies them into the database (and fsyncs): 4000 pages
        # (16 MB of WAL) makes that pause rare enough to stay out of the p99 (SQLite's default is 1000).
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later upgrades to a write fails at once with SQLITE_BUSY, ignoring
        # busy_timeout; taking the write lock up front makes it wait its turn instead.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class _WriteTurns:
    """One asyncio.Lock per event loop: this process's SQLite writers queue for the write lock in order."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def lock(self) -> asyncio.Lock:
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


_WRITE_TURNS: weakref.WeakKeyDictionary[Any, _WriteTurns] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def write_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold this process's turn to write to a SQLite database (nothing on PostgreSQL).

    Writers in one process that meet on SQLite's lock wait in its busy handler, which polls with sleeps of up to
    100 ms and no order: under a burst (commands, heartbeats, claims, deliveries) one unlucky writer waited 2.5 s.
    Taking turns on a FIFO lock first leaves SQLite's handler only the writers of other processes. A turn not had
    within the busy timeout raises QueueBusy, as SQLite's "database is locked" would have.
    """
    turns = _WRITE_TURNS.get(engine.sync_engine)
    if turns is None:
        yield
        return
    lock = turns.lock()
    try:
        async with asyncio.timeout(turns.timeout_s):
            await lock.acquire()
    except TimeoutError:
        raise QueueBusy(f"database is locked: no turn to write within {turns.timeout_s:g} s") from None
    try:
        yield
    finally:
        lock.release()


def _postgres_engine(url: URL, busy_timeout_seconds: float, pool_size: int, echo: bool) -> AsyncEngine:
    if url.get_driver_name() != "asyncpg":
        raise ValueError(f"PostgreSQL URLs need the asyncpg driver (postgresql+asyncpg://...), got {url.drivername!r}")
    settings = {key: str(url.query[key]) for key in SERVER_SETTING_PARAMS if key in url.query}
    # A statement stuck behind a lock for longer than the busy timeout fails (and becomes QueueBusy) instead of hanging.
    settings.setdefault("lock_timeout", str(int(busy_timeout_seconds * 1000)))
    url = url.difference_update_query(SERVER_SETTING_PARAMS)
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        pool_pre_ping=True,  # a pooled connection that died (server restart) is replaced before use
        pool_recycle=1800,
        connect_args={"server_settings": settings, "timeout": max(busy_timeout_seconds, 1.0)},
    )
