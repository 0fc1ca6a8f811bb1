"""`python -m bot export USER_ID DIR` (a member's data request) and `python -m bot backup FILE` (SQLite, live)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.config import Config
from bot.startup import StartupError, masked_url
from bot.storage import store_for


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def export_user(config: Config, user_id: int, out_dir: Path) -> tuple[int, int]:
    """Write the member's jobs (jobs.json) and their images and uploads under `out_dir`; (jobs, files)."""
    from db.engine import make_engine
    from db.retention import user_jobs

    if out_dir.exists() and any(out_dir.iterdir()):
        raise StartupError(f"{out_dir} is not empty: export into a new folder")
    engine = make_engine(config.database_url)
    try:
        jobs = await user_jobs(engine, user_id)
    finally:
        await engine.dispose()
    out_dir.mkdir(parents=True, exist_ok=True)
    store = store_for(config)  # the data folder or the bucket
    files = 0
    for job in jobs:
        files += await asyncio.to_thread(store.export_job, job.id, out_dir / "images" / str(job.id))
        upload = job.params.get("init_image")
        if isinstance(upload, str) and upload.startswith("uploads/"):
            files += await asyncio.to_thread(store.export_file, upload, out_dir / upload)
    rows = [{k: _plain(v) for k, v in dataclasses.asdict(job).items()} for job in jobs]
    (out_dir / "jobs.json").write_text(json.dumps({"user_id": user_id, "jobs": rows}, indent=2, default=str),
                                       encoding="utf-8")
    return len(jobs), files


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; StartupError for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise StartupError(f"backup copies SQLite databases; {masked_url(database_url)} is not one: use the "
                           "database's own tool (pg_dump for PostgreSQL)")
    return Path(url.database)


def backup(database_url: str, target: Path) -> int:
    """A consistent copy of the live SQLite database at `target` (online backup API); returns the page count."""
    source = sqlite_path(database_url)
    if not source.is_file():
        raise StartupError(f"there is no database at {source}")
    if target.exists():
        raise StartupError(f"{target} already exists: choose a new file name")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        # Copies in steps, letting the bot write between them; a write during the copy restarts it, so the
        # result is one consistent snapshot.
        src.backup(dst, pages=1024)
        pages = dst.execute("pragma page_count").fetchone()[0]
        problem = dst.execute("pragma integrity_check").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if problem != "ok":
        partial.unlink(missing_ok=True)
        raise StartupError(f"the backup failed its integrity check ({problem}); nothing was written")
    partial.replace(target)
    return pages
