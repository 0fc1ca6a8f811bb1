"""The queue's life cycle on both databases: enqueue, claim, heartbeat, succeed, cancel, deliver."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, timedelta

import pytest

from db.models import JobKind, JobStatus
from db.queue import Queue
from db.views import JobView
from tests.db.conftest import FakeClock, new_job


async def test_enqueue_returns_a_frozen_view_of_every_column(queue: Queue, clock: FakeClock) -> None:
    """enqueue stores the request and returns a JobView, not an ORM object."""
    result = await queue.enqueue(new_job(user_id=2**62, interaction_id=2**62 + 1, params={"steps": 20},
                                         base_seed=2**40, kind="variation", parent_tile=3))
    job = result.job
    assert result.created and result.position == 1 and result.eta_seconds is None
    assert isinstance(job, JobView) and job.status is JobStatus.queued and job.kind is JobKind.variation
    assert (job.user_id, job.interaction_id, job.base_seed) == (2**62, 2**62 + 1, 2**40)  # BigInteger
    assert job.params == {"steps": 20} and job.priority == 1.0 and job.parent_tile == 3
    assert job.created_at == clock.now and job.created_at.tzinfo is UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.status = JobStatus.failed  # type: ignore[misc]
    assert await queue.get(job.id) == job


async def test_new_job_rejects_bad_values() -> None:
    """A bad kind, priority or tile fails before anything is stored, naming the value."""
    with pytest.raises(ValueError, match="'paint'"):
        new_job(kind="paint")
    with pytest.raises(ValueError, match="priority"):
        new_job(priority=0)
    with pytest.raises(ValueError, match="parent_tile"):
        new_job(parent_tile=5)


async def test_duplicate_interaction_returns_the_existing_job(queue: Queue) -> None:
    """A second enqueue with the same interaction_id creates nothing and returns the first job."""
    first = await queue.enqueue(new_job(interaction_id=42))
    second = await queue.enqueue(new_job(interaction_id=42, prompt="something else"))
    assert not second.created and second.job == first.job
    assert (await queue.counts())[JobStatus.queued] == 1


async def test_concurrent_duplicate_enqueues_create_one_job(queue: Queue) -> None:
    """Twenty simultaneous enqueues of one interaction: one row, one created=True, all the same id."""
    results = await asyncio.gather(*(queue.enqueue(new_job(interaction_id=7)) for _ in range(20)))
    assert sum(r.created for r in results) == 1
    assert {r.job.id for r in results} == {results[0].job.id}
    assert (await queue.counts())[JobStatus.queued] == 1


async def test_jobs_without_interaction_are_never_deduplicated(queue: Queue) -> None:
    """interaction_id=None (e.g. scheduled jobs) never collides."""
    a = await queue.enqueue(new_job(interaction_id=None))
    b = await queue.enqueue(new_job(interaction_id=None))
    assert a.created and b.created and a.job.id != b.job.id


async def test_claim_takes_a_lease_and_a_fresh_token(queue: Queue, clock: FakeClock) -> None:
    """claim marks the job running for the worker, with a lease and a new claim token."""
    job = (await queue.enqueue(new_job())).job
    claimed = await queue.claim("w1")
    assert claimed is not None and claimed.id == job.id
    assert claimed.status is JobStatus.running and claimed.worker_id == "w1" and claimed.attempts == 1
    assert claimed.claim_token == job.claim_token + 1 and claimed.started_at == clock.now
    assert (claimed.lease_expires_at - clock.now).total_seconds() == 60
    assert await queue.claim("w2") is None
    assert await queue.running() == [claimed]


async def test_heartbeat_renews_the_lease_and_records_progress(queue: Queue, clock: FakeClock) -> None:
    """heartbeat moves the lease forward and stores progress for the bot to show."""
    await queue.enqueue(new_job())
    job = await queue.claim("w1")
    clock.advance(30)
    beat = await queue.heartbeat(job.id, job.claim_token, progress_step=5, progress_total=20)
    assert beat and beat.held and not beat.cancel_requested
    after = await queue.get(job.id)
    assert (after.progress_step, after.progress_total) == (5, 20)
    assert after.lease_expires_at == clock.now + (job.lease_expires_at - job.started_at)


async def test_a_stale_token_cannot_touch_the_job(queue: Queue) -> None:
    """heartbeat/succeed/fail/release with an old claim token do nothing."""
    await queue.enqueue(new_job())
    job = await queue.claim("w1")
    stale = job.claim_token - 1
    assert not await queue.heartbeat(job.id, stale)
    assert not await queue.succeed(job.id, stale, "/out", 1.0)
    assert await queue.fail(job.id, stale, "boom", retriable=False) is None
    assert not await queue.release(job.id, stale)
    assert (await queue.get(job.id)).status is JobStatus.running


async def test_succeed_records_the_result_once(queue: Queue, clock: FakeClock) -> None:
    """succeed stores result_dir and gpu_seconds; repeating it (lost reply) is still True, others are False."""
    await queue.enqueue(new_job())
    job = await queue.claim("w1")
    clock.advance(3)
    assert await queue.succeed(job.id, job.claim_token, "/data/outputs/1", 2.5)
    assert await queue.succeed(job.id, job.claim_token, "/data/outputs/1", 2.5)
    assert not await queue.succeed(job.id, job.claim_token + 1, "/elsewhere", 1.0)
    done = await queue.get(job.id)
    assert done.status is JobStatus.succeeded and done.result_dir == "/data/outputs/1"
    assert done.gpu_seconds == 2.5 and done.finished_at == clock.now and done.lease_expires_at is None
    assert not await queue.heartbeat(job.id, job.claim_token)


async def test_cancel_a_queued_job(queue: Queue) -> None:
    """A queued job is cancelled at once, counts as delivered, and is never claimed."""
    job = (await queue.enqueue(new_job(user_id=5))).job
    assert await queue.cancel(job.id, user_id=6) is None  # not theirs
    cancelled = await queue.cancel(job.id, user_id=5)
    assert cancelled.status is JobStatus.cancelled and cancelled.delivered_at is not None
    assert await queue.claim("w1") is None
    assert await queue.undelivered() == []


async def test_cancel_a_running_job_reaches_the_worker(queue: Queue) -> None:
    """A running job gets a flag the worker sees in heartbeat; finishing it queues a notice for the bot."""
    job = (await queue.enqueue(new_job(user_id=5))).job
    claimed = await queue.claim("w1")
    flagged = await queue.cancel(job.id, user_id=5)
    assert flagged.status is JobStatus.running and flagged.cancel_requested
    beat = await queue.heartbeat(claimed.id, claimed.claim_token)
    assert beat.held and beat.cancel_requested
    assert await queue.finish_cancelled(claimed.id, claimed.claim_token)
    assert [j.id for j in await queue.undelivered()] == [job.id]
    assert (await queue.get(job.id)).status is JobStatus.cancelled


async def test_cancel_a_finished_job_changes_nothing(queue: Queue) -> None:
    """Cancelling a succeeded job returns it unchanged."""
    await queue.enqueue(new_job(user_id=5))
    job = await queue.claim("w1")
    await queue.succeed(job.id, job.claim_token, "/out", 1.0)
    assert (await queue.cancel(job.id, user_id=5)).status is JobStatus.succeeded


async def test_delivery_is_recorded_once(queue: Queue, clock: FakeClock) -> None:
    """undelivered lists finished jobs oldest first; mark_delivered works once; attempts are counted."""
    ids = []
    for i in range(3):
        await queue.enqueue(new_job(user_id=i))
        job = await queue.claim("w1")
        clock.advance(1)
        if i == 1:
            await queue.fail(job.id, job.claim_token, "prompt rejected", retriable=False)
        else:
            await queue.succeed(job.id, job.claim_token, f"/out/{job.id}", 1.0)
        ids.append(job.id)
    assert [j.id for j in await queue.undelivered()] == ids
    assert [j.id for j in await queue.undelivered(limit=1)] == ids[:1]
    assert await queue.begin_delivery(ids[0]) == 1
    assert await queue.begin_delivery(ids[0]) == 2
    assert await queue.set_status_message(ids[0], 555)
    assert await queue.mark_delivered(ids[0], result_message_id=999)
    assert not await queue.mark_delivered(ids[0], result_message_id=1000)
    delivered = await queue.get(ids[0])
    assert (delivered.result_message_id, delivered.status_message_id, delivered.delivery_attempts) == (999, 555, 2)
    assert [j.id for j in await queue.undelivered()] == ids[1:]
    assert (await queue.find_by_message(999)).id == ids[0]
    assert await queue.find_by_message(555) is None  # status messages are not results


async def test_per_user_counts_and_history(queue: Queue, clock: FakeClock) -> None:
    """count_active, jobs_since and recent_jobs support per-user limits and quotas."""
    start = clock.now
    first = (await queue.enqueue(new_job(user_id=9))).job
    clock.advance(10)
    second = (await queue.enqueue(new_job(user_id=9))).job
    await queue.enqueue(new_job(user_id=8))
    await queue.cancel(second.id, user_id=9)
    assert await queue.count_active(9) == 1
    assert await queue.jobs_since(9, start) == 1  # cancelled before it started: not charged
    assert await queue.jobs_since(9, clock.now) == 0
    assert [j.id for j in await queue.recent_jobs(9, limit=5)] == [second.id, first.id]
    assert (await queue.counts())[JobStatus.cancelled] == 1


async def test_naive_clock_is_refused(db_url: str) -> None:
    """A clock returning naive datetimes is a bug, caught with the bad value in the message."""
    from datetime import datetime

    from db.engine import make_engine

    engine = make_engine(db_url)
    try:
        queue = Queue(engine, clock=lambda: datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="naive"):
            await queue.enqueue(new_job())
    finally:
        await engine.dispose()


async def _finished(queue: Queue, clock: FakeClock, user_id: int) -> JobView:
    """A job that ran and succeeded a second after the previous one."""
    await queue.enqueue(new_job(user_id=user_id))
    job = await queue.claim("w1")
    clock.advance(1)
    await queue.succeed(job.id, job.claim_token, f"/out/{job.id}", 1.0)
    return job


async def test_undelivered_pages_past_jobs_waiting_out_a_retry(queue: Queue, clock: FakeClock) -> None:
    """Jobs whose delivery waits for a retry, and deliveries under way, never hide the jobs behind them."""
    ids = []
    for n in range(4):
        job = await _finished(queue, clock, n)
        ids.append(job.id)
    for job_id in ids[:2]:
        await queue.delay_delivery(job_id, 60)
    assert [j.id for j in await queue.undelivered(limit=1)] == [ids[2]]
    assert [j.id for j in await queue.undelivered(limit=1, skip={ids[2]})] == [ids[3]]
    clock.advance(61)
    assert [j.id for j in await queue.undelivered(limit=1)] == [ids[0]]


async def test_delay_delivery_keeps_the_first_error_time_and_mark_delivered_records_why(queue: Queue,
                                                                                       clock: FakeClock) -> None:
    """delivery_error_at is when failures began; mark_delivered(failed=...) keeps the reason for /info."""
    job = await _finished(queue, clock, 1)
    first = await queue.delay_delivery(job.id, 5)
    clock.advance(10)
    second = await queue.delay_delivery(job.id, 5)
    assert second.delivery_error_at == first.delivery_error_at == first.delivery_due_at - timedelta(seconds=5)
    assert await queue.mark_delivered(job.id, None, failed="403 Missing Permissions; sent as a DM")
    done = await queue.get(job.id)
    assert done.delivery_failed == "403 Missing Permissions; sent as a DM" and done.delivery_due_at is None
