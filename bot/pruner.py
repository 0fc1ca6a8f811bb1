"""The pruner: deletes outputs, previews and uploads older than `data.keep_days`; the jobs' rows stay, marked.

It runs in the bot process once at start and then every hour, on the data folder or the bucket (bot/storage.py).
Deleting a file that is already gone is fine, so two bots or a crash between "deleted" and "marked" never stop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage import ImageStore, LocalStore
from db.errors import QueueError
from db.retention import mark_pruned, prunable

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted."""

    jobs: int
    uploads: int
    bytes: int


class Pruner:
    """Deletes images older than `keep_days` from `store` (default: the data folder `data_dir`)."""

    def __init__(self, engine: AsyncEngine, data_dir: Path, keep_days: int, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), store: ImageStore | None = None) -> None:
        self.engine, self.data_dir, self.keep_days, self.clock = engine, data_dir, keep_days, clock
        self.store = store or LocalStore(data_dir)

    async def prune_once(self) -> Pruned:
        """One pass: the folders of old finished jobs (outputs and previews), then old uploads."""
        now = self.clock()
        cutoff = now - timedelta(days=self.keep_days)
        jobs = freed = 0
        while batch := await prunable(self.engine, cutoff):
            freed += await asyncio.to_thread(self._delete_jobs_files, [job.id for job in batch])
            jobs += await mark_pruned(self.engine, [job.id for job in batch], now)
        uploads, upload_bytes = await asyncio.to_thread(self._delete_old_uploads, cutoff)
        result = Pruned(jobs=jobs, uploads=uploads, bytes=freed + upload_bytes)
        if jobs or uploads:
            log.info("pruned the images of %d job(s) and %d upload(s) older than %d days (%.1f MB)", jobs, uploads,
                     self.keep_days, result.bytes / 1e6, extra={"pruned_jobs": jobs, "pruned_uploads": uploads})
        return result

    def _delete_jobs_files(self, job_ids: list[int]) -> int:
        return sum(self.store.delete_job(job_id) for job_id in job_ids)

    def _delete_old_uploads(self, cutoff: datetime) -> tuple[int, int]:
        return self.store.delete_uploads_before(cutoff)

    async def run(self, stop: asyncio.Event, every_seconds: float = PRUNE_EVERY_SECONDS) -> None:
        """Prune now and then every `every_seconds` until stopped; keep_days = 0 keeps everything."""
        if self.keep_days <= 0:
            return
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await self.prune_once()
            except (QueueError, OSError) as exc:  # a locked database or a flaky disk: the next pass retries
                log.warning("pruning failed (%s); trying again in %.0f s", exc, every_seconds)
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(1.0, every_seconds - (time.perf_counter() - started)))
            except TimeoutError:
                pass
