"""Units of work shared by every store: one write transaction or one read-only transaction on a connection.

Each store (queue, moderation, safety, settings) used to carry its own copy of these two context managers; they
live here once so that a change (error translation, SQLite's BEGIN IMMEDIATE, read-only marking) reaches them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from db.engine import READ_ONLY, write_turn
from db.errors import translated


class Transactions:
    """Begins transactions on one engine; driver errors leave as the db.errors types (QueueBusy, StorageFull...)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (on SQLite: this process's turn to write, then BEGIN IMMEDIATE).

        Statements are Core statements on the session's connection: the same transaction, without the ORM's
        per-statement bookkeeping (a third of an enqueue's time), since the stores never load ORM objects.
        """
        async with write_turn(self.engine):
            with translated():
                async with self._sessions() as session, session.begin():
                    yield await session.connection()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One read-only transaction (a deferred BEGIN on SQLite, so it never waits for the write lock)."""
        with translated():
            async with self._read_sessions() as session, session.begin():
                yield await session.connection()
