"""The monitoring snapshot that /metrics and `python -m bot status` read, on both databases."""

from __future__ import annotations

from db.monitoring import snapshot
from db.queue import Queue
from tests.db.conftest import FakeClock, new_job


async def test_failures_of_the_last_hour_are_counted_by_kind(queue: Queue, clock: FakeClock) -> None:
    """Two failed imagines and one failed variation show as 3 in all and by kind; an older failure doesn't count."""
    async def fail_one(kind: str) -> None:
        await queue.enqueue(new_job(kind=kind))
        job = await queue.claim("w1")
        assert job is not None
        await queue.fail(job.id, job.claim_token, "boom", retriable=False)

    await fail_one("imagine")
    clock.advance(2 * 3600)  # this one is over an hour old when the snapshot is taken
    await fail_one("imagine")
    await fail_one("imagine")
    await fail_one("variation")
    snap = await snapshot(queue.engine, now=clock())
    assert snap.failed_last_hour == 3
    assert snap.failed_by_kind == {"imagine": 2, "variation": 1}
