"""Database trouble as members see it: a short reason in the reply, the driver's detail only in the log."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy import event

from tests.bot.conftest import BotRunner


async def test_a_full_database_gives_members_a_short_reason(runner: BotRunner,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """SQLite out of pages during /imagine: the member reads why, without SQL; the log keeps the driver's text."""
    path = runner.config.database_url.split("///", 1)[1]
    admin = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        # Every new job also writes 100 KB elsewhere, and the file may not grow: the INSERT fails as a full disk.
        admin.execute("CREATE TABLE filler (data BLOB)")
        admin.execute("CREATE TRIGGER fill AFTER INSERT ON jobs BEGIN INSERT INTO filler VALUES (zeroblob(100000)); END")
        pages = admin.execute("PRAGMA page_count").fetchone()[0]
    finally:
        admin.close()
    # Every connection the bot takes from its pool from now on carries the page limit (no pool reset needed).
    event.listen(runner.bot.queue.engine.sync_engine, "checkout",
                 lambda connection, *_: connection.cursor().execute(f"PRAGMA max_page_count = {pages}"))
    fake = runner.fake
    with caplog.at_level(logging.ERROR):
        inter = await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
        reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "storage is full" in reply.content and "nothing was queued" in reply.content
    assert "SQL" not in reply.content and "INSERT" not in reply.content
    assert "database or disk is full" in caplog.text
