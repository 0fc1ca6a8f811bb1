"""Alembic migrations: run from code on both databases, from any working directory, matching the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from db.engine import make_engine
from db.migrations import alembic_config, downgrade, upgrade
from db.models import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_reaches_head_and_matches_the_models(db_url: str) -> None:
    """After upgrade (done by the db_url fixture) the schema is at head and equals db.models."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert version == head
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    """Running the upgrade again (every bot start does) changes nothing."""
    await upgrade(db_url)
    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_back(db_url: str) -> None:
    """The migration runs backwards (no tables left) and forwards again."""
    await downgrade(db_url, "base")
    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "jobs" not in tables
    finally:
        await engine.dispose()
    await upgrade(db_url)


async def test_upgrade_needs_no_alembic_ini_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """upgrade builds its Alembic config in code, so it works from an empty folder."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'queue.db'}"
    await upgrade(url)
    assert (tmp_path / "fresh" / "queue.db").exists() and not (tmp_path / "alembic.ini").exists()
