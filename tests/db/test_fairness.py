"""The fair order: round-robin across users, weighted by priority, and positions that match the claims."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from db.models import JobStatus
from db.queue import Queue
from tests.db.conftest import FakeClock, new_job


async def _claim_users(queue: Queue, clock: FakeClock, n: int) -> list[int]:
    users = []
    for _ in range(n):
        job = await queue.claim("w1")
        assert job is not None
        await queue.succeed(job.id, job.claim_token, "/out", 1.0)
        users.append(job.user_id)
        clock.advance(1)
    return users


async def test_a_later_user_goes_before_a_bulk_users_second_job(queue: Queue, clock: FakeClock) -> None:
    """User A enqueues 10 jobs, then B 1: B's job starts before A's second."""
    a_jobs = [(await queue.enqueue(new_job(user_id=1))).job for _ in range(10)]
    clock.advance(1)
    b_job = (await queue.enqueue(new_job(user_id=2))).job
    order = []
    while (job := await queue.claim("w1")) is not None:
        order.append(job.id)
    assert order.index(b_job.id) < order.index(a_jobs[1].id)
    assert order == [a_jobs[0].id, b_job.id] + [j.id for j in a_jobs[1:]]


async def test_a_user_arriving_mid_run_goes_next(queue: Queue, clock: FakeClock) -> None:
    """B arrives while A's backlog is being served: B's job is the very next one claimed."""
    for _ in range(5):
        await queue.enqueue(new_job(user_id=1))
    assert await _claim_users(queue, clock, 3) == [1, 1, 1]
    clock.advance(1)
    await queue.enqueue(new_job(user_id=2))
    assert await _claim_users(queue, clock, 3) == [2, 1, 1]


async def test_three_backlogged_users_take_turns(queue: Queue, clock: FakeClock) -> None:
    """Users who each queued many jobs are served round-robin, not FIFO."""
    for user in (1, 2, 3):
        for _ in range(4):
            await queue.enqueue(new_job(user_id=user))
            clock.advance(0.001)
    assert await _claim_users(queue, clock, 12) == [1, 2, 3] * 4


async def test_priority_weights_the_share(queue: Queue, clock: FakeClock) -> None:
    """A user whose jobs weigh 3 is served three times as often as a user at weight 1."""
    for _ in range(30):
        await queue.enqueue(new_job(user_id=1, priority=3.0))
        await queue.enqueue(new_job(user_id=2, priority=1.0))
    served = Counter(await _claim_users(queue, clock, 20))
    assert served == {1: 15, 2: 5}


async def test_idle_users_bank_no_credit(queue: Queue, clock: FakeClock) -> None:
    """A user who was away gets one turn on return, then alternates; they do not catch up on the past."""
    for _ in range(6):
        await queue.enqueue(new_job(user_id=1))
    await queue.enqueue(new_job(user_id=2))
    assert await _claim_users(queue, clock, 3) == [1, 2, 1]  # B served once, then idle
    for _ in range(6):
        await queue.enqueue(new_job(user_id=1))
    assert await _claim_users(queue, clock, 4) == [1, 1, 1, 1]
    for _ in range(3):
        await queue.enqueue(new_job(user_id=2))
    assert await _claim_users(queue, clock, 4) == [2, 1, 2, 1]


async def test_retries_wait_out_their_backoff_without_blocking_others(queue: Queue, clock: FakeClock) -> None:
    """A job backing off (run_after in the future) is skipped; others run meanwhile."""
    await queue.enqueue(new_job(user_id=1))
    job = await queue.claim("w1")
    await queue.fail(job.id, job.claim_token, "CUDA hiccup", retriable=True)
    await queue.enqueue(new_job(user_id=2))
    assert (await queue.claim("w1")).user_id == 2
    assert await queue.claim("w1") is None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_positions_match_the_claim_order(queue: Queue, clock: FakeClock, seed: int) -> None:
    """position() predicts exactly when each queued job will be claimed, whatever the priorities."""
    rng = random.Random(seed)
    for _ in range(rng.randint(0, 3)):  # some history, so users start at different virtual times
        await queue.enqueue(new_job(user_id=rng.randint(1, 4), priority=1.0))
    await _claim_users(queue, clock, len(await queue.running()) + (await queue.counts())[JobStatus.queued])
    ids = []
    for _ in range(14):
        user = rng.randint(1, 4)
        ids.append((await queue.enqueue(new_job(user_id=user, priority=rng.choice([1.0, 2.0, 0.5])))).job.id)
        clock.advance(rng.choice([0, 0.5]))
    predicted = {job_id: (await queue.position(job_id))[0] for job_id in ids}
    claimed = []
    while (job := await queue.claim("w1")) is not None:
        claimed.append(job.id)
        clock.advance(1)
    assert sorted(predicted.values()) == list(range(1, len(ids) + 1))
    assert [claimed.index(job_id) + 1 for job_id in ids] == [predicted[job_id] for job_id in ids]


async def test_a_retried_job_keeps_its_place(queue: Queue, clock: FakeClock) -> None:
    """After its backoff, a retried job goes before jobs that were queued behind it."""
    first = (await queue.enqueue(new_job(user_id=1))).job
    later = [(await queue.enqueue(new_job(user_id=user))).job for user in (2, 3, 1)]
    claimed = await queue.claim("w1")
    assert claimed.id == first.id
    retried = await queue.fail(claimed.id, claimed.claim_token, "CUDA hiccup", retriable=True)
    clock.advance((retried.run_after - clock.now).total_seconds())
    assert (await queue.position(first.id))[0] == 1
    assert [(await queue.claim("w1")).id for _ in range(4)] == [first.id] + [j.id for j in later]


async def test_eta_comes_from_recent_durations_and_workers(queue: Queue, clock: FakeClock) -> None:
    """ETA: turns ahead (queued and running, spread over recent workers) times the median duration."""
    for seconds, worker in ((10.0, "w1"), (20.0, "w2"), (30.0, "w1")):
        await queue.enqueue(new_job(user_id=1))
        job = await queue.claim(worker)
        await queue.succeed(job.id, job.claim_token, "/out", seconds)
    await queue.enqueue(new_job(user_id=1))
    await queue.claim("w1")  # one running
    position, eta = (r := await queue.enqueue(new_job(user_id=2))).position, r.eta_seconds
    assert position == 1 and eta == 20.0  # ceil((1 + 1) / 2 workers) turns of the 20 s median
    assert await queue.position(r.job.id) == (1, 20.0)
    assert await queue.position(10_000) == (0, None)


async def test_waiting_lists_positions_and_etas_as_position_does(queue: Queue, clock: FakeClock) -> None:
    """waiting() gives each queued job the same place and ETA as position(), in the claim's order."""
    await queue.enqueue(new_job(user_id=1))
    job = await queue.claim("w1")
    await queue.succeed(job.id, job.claim_token, "/out", 12.0)
    await queue.enqueue(new_job(user_id=1))
    await queue.claim("w1")  # one running
    for user, priority in ((1, 1.0), (2, 2.0), (3, 0.5), (2, 2.0), (1, 1.0)):
        await queue.enqueue(new_job(user_id=user, priority=priority))
        clock.advance(0.5)
    listed = await queue.waiting()
    assert [w.position for w in listed] == [1, 2, 3, 4, 5]
    assert [(w.position, w.eta_seconds) for w in listed] == [await queue.position(w.job.id) for w in listed]
    assert [w.job.id for w in await queue.waiting(limit=2)] == [w.job.id for w in listed[:2]]
