"""Data lifecycle on a populated database: the pruner, `export USER_ID DIR`, `backup FILE` while the bot writes."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import Config
from bot.data_cli import backup
from bot.pruner import Pruner
from bot.startup import StartupError, prepare_database
from db.engine import make_engine
from db.queue import Queue
from tests.bot.conftest import BotRunner, custom_ids, wait_result
from tests.db.conftest import FakeClock, new_job


@dataclass
class Populated:
    """Jobs of two members: old ones (40 days) and new ones (today), with images on disk."""

    url: str
    data: Path
    queue: Queue
    clock: FakeClock
    old: list[int]
    new: list[int]


async def _finished_job(p: Populated, user_id: int, n: int) -> int:
    job = (await p.queue.enqueue(new_job(user_id=user_id, prompt=f"harbour {n}, user {user_id}"))).job
    claimed = await p.queue.claim("w")
    folder = p.data / "outputs" / str(claimed.id)
    folder.mkdir(parents=True)
    for name in ("tile-1.png", "grid.png", "preview.jpg"):
        (folder / name).write_bytes(b"x" * 1000)
    await p.queue.succeed(claimed.id, claimed.claim_token, f"outputs/{claimed.id}", 1.0)
    return job.id


@pytest.fixture
async def populated(tmp_path: Path) -> AsyncIterator[Populated]:
    """Two members' jobs, three of them 40 days old, two from now, on SQLite with their files."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    clock = FakeClock()
    p = Populated(url, tmp_path / "data", Queue(engine, clock=clock), clock, [], [])
    for n in range(3):
        p.old.append(await _finished_job(p, user_id=1 + n % 2, n=n))
    clock.advance(timedelta(days=40).total_seconds())
    for n in range(2):
        p.new.append(await _finished_job(p, user_id=1, n=10 + n))
    try:
        yield p
    finally:
        await engine.dispose()


async def test_pruner_deletes_old_images_and_marks_rows(populated: Populated) -> None:
    """Outputs and previews of jobs past keep_days go; their rows stay, marked; newer jobs are untouched."""
    p = populated
    result = await Pruner(p.queue.engine, p.data, keep_days=30, clock=p.clock).prune_once()
    assert (result.jobs, result.bytes) == (3, 3 * 3000)
    for job_id in p.old:
        assert not (p.data / "outputs" / str(job_id)).exists()
        job = await p.queue.get(job_id)
        assert job is not None and job.pruned_at == p.clock.now and job.prompt.startswith("harbour")
    for job_id in p.new:
        assert (p.data / "outputs" / str(job_id) / "grid.png").exists()
        assert (await p.queue.get(job_id)).pruned_at is None
    assert (await Pruner(p.queue.engine, p.data, keep_days=30, clock=p.clock).prune_once()).jobs == 0


async def test_pruner_deletes_old_uploads_only(populated: Populated) -> None:
    """Uploads whose file is older than keep_days go; a fresh upload stays."""
    p = populated
    uploads = p.data / "uploads"
    uploads.mkdir()
    (uploads / "old.png").write_bytes(b"o" * 10)
    (uploads / "new.png").write_bytes(b"n" * 10)
    old_time = (p.clock.now - timedelta(days=31)).timestamp()
    os.utime(uploads / "old.png", (old_time, old_time))
    new_time = p.clock.now.timestamp()
    os.utime(uploads / "new.png", (new_time, new_time))
    result = await Pruner(p.queue.engine, p.data, keep_days=30, clock=p.clock).prune_once()
    assert result.uploads == 1
    assert sorted(f.name for f in uploads.iterdir()) == ["new.png"]


def test_export_writes_a_members_jobs_and_images(populated: Populated, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    """`export 1 DIR`: jobs.json with every job of member 1 (and no one else's), and each job's images."""
    p = populated
    monkeypatch.setenv("DATABASE_URL", p.url)
    (tmp_path / "config.toml").write_text(f'[data]\ndir = "{p.data}"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["export", "1", str(tmp_path / "export")]) == 0
    exported = json.loads((tmp_path / "export" / "jobs.json").read_text())
    mine = [p.old[0], p.old[2], *p.new]
    assert [job["id"] for job in exported["jobs"]] == mine
    assert all(job["user_id"] == 1 for job in exported["jobs"])
    assert exported["jobs"][0]["prompt"] == "harbour 0, user 1"
    for job_id in mine:
        assert sorted(f.name for f in (tmp_path / "export" / "images" / str(job_id)).iterdir()) == [
            "grid.png", "preview.jpg", "tile-1.png"]
    assert capsys.readouterr().out.strip() == f"exported 4 job(s) and 12 file(s) of user 1 to {tmp_path / 'export'}"


def test_export_refuses_a_folder_with_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    """An export never mixes with what a folder already holds."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "1", str(tmp_path / "out")]) == 2
    assert "is not empty: export into a new folder" in capsys.readouterr().err


async def test_backup_while_the_bot_writes_holds_every_row(populated: Populated, tmp_path: Path) -> None:
    """The online backup, taken while another connection keeps inserting, opens and holds a consistent set."""
    p = populated
    source = Path(p.url.removeprefix("sqlite+aiosqlite:///"))
    done = threading.Event()

    def writer() -> None:
        with sqlite3.connect(source, timeout=30) as connection:
            while not done.is_set():
                connection.execute("insert into workers (worker_id, started_at, last_seen) values "
                                   "(hex(randomblob(8)), '2026-01-01', '2026-01-01')")
                connection.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        pages = backup(p.url, tmp_path / "backup.db")
    finally:
        done.set()
        thread.join()
    assert pages > 0
    with sqlite3.connect(tmp_path / "backup.db") as copy, sqlite3.connect(source) as live:
        assert copy.execute("pragma integrity_check").fetchone()[0] == "ok"
        copied = copy.execute("select id, status, prompt from jobs order by id").fetchall()
        assert copied == live.execute("select id, status, prompt from jobs order by id").fetchall()
        assert len(copied) == 5
        assert copy.execute("select count(*) from workers").fetchone()[0] <= live.execute(
            "select count(*) from workers").fetchone()[0]


def test_backup_refuses_postgres_and_an_existing_file(tmp_path: Path) -> None:
    """Backup is for SQLite; it never overwrites a file."""
    with pytest.raises(StartupError, match="pg_dump"):
        backup("postgresql+asyncpg://u:pw@db/imagine", tmp_path / "b.db")
    (tmp_path / "b.db").write_text("older backup")
    (tmp_path / "live.db").write_bytes(b"")
    with pytest.raises(StartupError, match="already exists"):
        backup(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", tmp_path / "b.db")


async def test_buttons_on_a_pruned_job_say_the_images_are_gone(runner: BotRunner) -> None:
    """After the pruner took a grid's images, its U1 button answers privately that they were deleted."""
    fake = runner.fake
    mark = fake.mark()
    inter = await fake.invoke_slash("imagine", {"prompt": "an old harbour"}, user_id=fake.users[0])
    await inter.wait_response(timeout=3)
    grid = await wait_result(fake, mark)
    config: Config = runner.config
    later = (await runner.bot.queue.get(int(custom_ids(grid)[0].split(":")[2]))).created_at + timedelta(days=31)
    assert (await Pruner(runner.bot.queue.engine, config.data_dir, 30, clock=lambda: later).prune_once()).jobs == 1
    click = await fake.click(grid.id, custom_ids(grid)[0], user_id=fake.users[0])
    reply = await click.wait_response(timeout=3)
    assert reply.ephemeral and "were deleted: this server keeps images 30 days" in reply.content
