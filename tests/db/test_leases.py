"""Leases, retries and crash recovery, by time travel instead of sleeping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.leases import RetryPolicy
from db.models import JobStatus
from db.queue import Queue
from tests.db.conftest import FakeClock, new_job


async def test_an_expired_lease_goes_back_to_the_queue(queue: Queue, clock: FakeClock) -> None:
    """A worker that stops heartbeating loses the job after the lease; another worker gets it."""
    await queue.enqueue(new_job())
    first = await queue.claim("w1")
    clock.advance(59)
    assert await queue.reclaim_expired() == 0
    clock.advance(2)
    assert await queue.reclaim_expired() == 1
    requeued = await queue.get(first.id)
    assert requeued.status is JobStatus.queued and requeued.kills == 1 and requeued.worker_id is None
    second = await queue.claim("w2")
    assert second.id == first.id and second.claim_token == first.claim_token + 1
    assert not await queue.heartbeat(first.id, first.claim_token)  # the old worker finds out
    assert not await queue.succeed(first.id, first.claim_token, "/stale", 1.0)
    assert await queue.succeed(second.id, second.claim_token, "/out", 1.0)


async def test_heartbeats_keep_a_long_job(queue: Queue, clock: FakeClock) -> None:
    """A job that heartbeats keeps its lease however long it runs."""
    await queue.enqueue(new_job())
    job = await queue.claim("w1")
    for _ in range(10):
        clock.advance(45)
        assert await queue.heartbeat(job.id, job.claim_token)
        assert await queue.reclaim_expired() == 0
    assert (await queue.get(job.id)).status is JobStatus.running


async def test_a_job_that_keeps_killing_workers_is_poison(queue: Queue, clock: FakeClock) -> None:
    """After poison_kills worker deaths the job fails with a reason instead of killing more workers."""
    job = (await queue.enqueue(new_job())).job
    for kill in (1, 2):
        claimed = await queue.claim(f"w{kill}")
        assert claimed is not None
        clock.advance(61)
        assert await queue.reclaim_expired() == 1
    dead = await queue.get(job.id)
    assert dead.status is JobStatus.failed and dead.error == "poison job: its worker died 2 times"
    assert dead.finished_at == clock.now and await queue.claim("w3") is None
    assert [j.id for j in await queue.undelivered()] == [job.id]


async def test_restarts_after_crashes_also_count_towards_poison(queue: Queue) -> None:
    """A worker that crashes on the same job twice (restarting under its name each time) fails it as poison."""
    job = (await queue.enqueue(new_job())).job
    for _ in range(2):
        assert (await queue.claim("gpu-0")).id == job.id
        assert await queue.release_worker("gpu-0") == 1
    dead = await queue.get(job.id)
    assert dead.status is JobStatus.failed and dead.kills == 2 and dead.error.startswith("poison job")


async def test_kills_do_not_use_up_the_retry_budget(queue: Queue, clock: FakeClock) -> None:
    """One crash plus two retriable failures still leaves the job its third proper attempt."""
    await queue.enqueue(new_job())
    await queue.claim("w1")
    clock.advance(61)
    await queue.reclaim_expired()  # kill 1
    for _ in range(2):
        claimed = await queue.claim("w1")
        assert (await queue.fail(claimed.id, claimed.claim_token, "OOM", retriable=True)).status is JobStatus.queued
        clock.advance(3600)
    claimed = await queue.claim("w1")
    assert claimed.attempts == 4 and claimed.kills == 1
    final = await queue.fail(claimed.id, claimed.claim_token, "OOM", retriable=True)
    assert final.status is JobStatus.failed and final.error == "OOM"


async def test_release_worker_recovers_jobs_after_a_crash(queue: Queue, clock: FakeClock) -> None:
    """A restarted worker hands back what it held before dying, without waiting for the lease."""
    await queue.enqueue(new_job(user_id=1))
    await queue.enqueue(new_job(user_id=2))
    held = [await queue.claim("gpu-0"), await queue.claim("gpu-0")]
    assert await queue.release_worker("gpu-1") == 0
    assert await queue.release_worker("gpu-0") == 2
    for job in held:
        after = await queue.get(job.id)
        assert after.status is JobStatus.queued and after.kills == 1
    assert await queue.claim("gpu-0") is not None


async def test_release_hands_back_without_charging_an_attempt(queue: Queue) -> None:
    """A graceful release (shutdown) requeues the job, attempts unchanged, kills unchanged."""
    job = (await queue.enqueue(new_job())).job
    claimed = await queue.claim("w1")
    assert await queue.release(claimed.id, claimed.claim_token)
    after = await queue.get(job.id)
    assert (after.status, after.attempts, after.kills, after.worker_id) == (JobStatus.queued, 0, 0, None)
    assert not await queue.release(claimed.id, claimed.claim_token)


async def test_release_of_a_cancelled_job_finishes_it(queue: Queue) -> None:
    """Releasing (or losing) a job whose user cancelled it ends it as cancelled, not queued."""
    job = (await queue.enqueue(new_job(user_id=3))).job
    claimed = await queue.claim("w1")
    await queue.cancel(job.id, user_id=3)
    assert await queue.release(claimed.id, claimed.claim_token)
    assert (await queue.get(job.id)).status is JobStatus.cancelled


async def test_retries_back_off_exponentially(queue: Queue, clock: FakeClock) -> None:
    """Retriable failures requeue with run_after growing about 2x each time, until max_attempts."""
    job = (await queue.enqueue(new_job())).job
    delays = []
    for attempt in (1, 2):
        claimed = await queue.claim("w1")
        assert claimed.attempts == attempt
        retried = await queue.fail(claimed.id, claimed.claim_token, "CUDA error", retriable=True)
        assert retried.status is JobStatus.queued and retried.error == "CUDA error"
        delay = (retried.run_after - clock.now).total_seconds()
        delays.append(delay)
        assert await queue.claim("w1") is None  # not before run_after
        clock.advance(delay)
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20
    claimed = await queue.claim("w1")
    final = await queue.fail(claimed.id, claimed.claim_token, "CUDA error", retriable=True)
    assert final.status is JobStatus.failed and final.attempts == 3 and final.id == job.id


async def test_non_retriable_failure_is_final(queue: Queue) -> None:
    """fail(retriable=False) ends the job at once with the reason."""
    await queue.enqueue(new_job())
    claimed = await queue.claim("w1")
    failed = await queue.fail(claimed.id, claimed.claim_token, "prompt is empty", retriable=False)
    assert failed.status is JobStatus.failed and failed.error == "prompt is empty" and failed.attempts == 1


@pytest.mark.parametrize(("failures", "low", "high"), [(1, 5, 10), (2, 10, 20), (3, 20, 40), (10, 300, 600)])
def test_backoff_has_jitter_and_a_ceiling(failures: int, low: float, high: float) -> None:
    """RetryPolicy.delay: half fixed, half random, doubling, capped at max_seconds."""
    import random

    policy = RetryPolicy(max_attempts=3, base_seconds=10, max_seconds=600)
    rng = random.Random(0)
    delays = [policy.delay(failures, rng) for _ in range(200)]
    assert all(timedelta(seconds=low) <= d <= timedelta(seconds=high) for d in delays)
    assert len(set(delays)) > 100
