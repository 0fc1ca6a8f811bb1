"""Job limits inside the enqueue's transaction, on both databases, with a hand-moved clock."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import make_engine
from db.limits import LimitReached, Limits, check_limits, lock_admission
from db.queue import Queue
from db.views import JobView
from tests.db.conftest import FakeClock, new_job


class LimitsOnly:
    """The door's limit step alone (bot/admission.py runs it among the others)."""

    def __init__(self, user_id: int, limits: Limits) -> None:
        self.user_id, self.limits = user_id, limits

    async def check(self, session: AsyncConnection, now: datetime) -> None:
        await lock_admission(session)
        await check_limits(session, self.user_id, now, self.limits)

    async def record(self, session: AsyncConnection, job: JobView, now: datetime) -> None:
        pass


async def _admit(queue: Queue, user_id: int, limits: Limits, interaction_id: int | None = None):
    return await queue.enqueue(new_job(user_id=user_id, interaction_id=interaction_id),
                               admit=LimitsOnly(user_id, limits))


async def test_max_queued_per_user_refuses_at_the_edge(queue: Queue) -> None:
    """With max_queued_per_user = 3 the third job queues, the fourth is refused and nothing is written."""
    limits = Limits(max_queued_per_user=3)
    for _ in range(3):
        await _admit(queue, 1, limits)
    with pytest.raises(LimitReached, match="3 jobs waiting") as refused:
        await _admit(queue, 1, limits)
    assert refused.value.frees_at is None
    assert sum((await queue.counts()).values()) == 3


async def test_a_started_job_frees_a_waiting_place(queue: Queue) -> None:
    """Only waiting jobs count toward max_queued_per_user: once one starts, another may queue."""
    limits = Limits(max_queued_per_user=1)
    await _admit(queue, 1, limits)
    assert await queue.claim("w1") is not None
    assert (await _admit(queue, 1, limits)).created


async def test_sliding_window_refuses_until_the_oldest_ages_out(queue: Queue, clock: FakeClock) -> None:
    """jobs_per_window = 2 in 600 s: the third is refused, says when it frees up, and is admitted at that moment."""
    limits = Limits(max_queued_per_user=100, jobs_per_window=2, window_seconds=600)
    start = clock.now
    await _admit(queue, 1, limits)
    clock.advance(100)
    await _admit(queue, 1, limits)
    clock.advance(100)
    with pytest.raises(LimitReached, match="2 jobs in the last 10 minutes") as refused:
        await _admit(queue, 1, limits)
    assert refused.value.frees_at == start.replace(minute=10)
    clock.advance(399.999)
    with pytest.raises(LimitReached):
        await _admit(queue, 1, limits)
    clock.advance(0.001)
    assert (await _admit(queue, 1, limits)).created


async def test_cancelled_jobs_still_count_in_the_window(queue: Queue) -> None:
    """Queue-then-cancel can't dodge jobs_per_window."""
    limits = Limits(jobs_per_window=1)
    job = (await _admit(queue, 1, limits)).job
    await queue.cancel(job.id, 1)
    with pytest.raises(LimitReached, match="1 jobs in the last"):
        await _admit(queue, 1, limits)


async def test_max_queue_size_refuses_everyone_with_busy(queue: Queue) -> None:
    """Beyond max_queue_size waiting jobs in all, a member with none is told the bot is busy."""
    limits = Limits(max_queue_size=2)
    await _admit(queue, 1, limits)
    await _admit(queue, 2, limits)
    with pytest.raises(LimitReached, match="The bot is busy"):
        await _admit(queue, 3, limits)


async def test_a_retried_interaction_gets_its_job_back_even_at_the_limit(queue: Queue) -> None:
    """The door doesn't refuse a job it already admitted: a retried interaction finds it."""
    limits = Limits(max_queued_per_user=1)
    first = await _admit(queue, 1, limits, interaction_id=77)
    again = await _admit(queue, 1, limits, interaction_id=77)
    assert not again.created and again.job.id == first.job.id


async def test_claim_skips_a_member_at_the_running_cap(db_url: str, clock: FakeClock) -> None:
    """max_running_per_user = 1: the second claim takes the next member's job, not the first member's second."""
    engine = make_engine(db_url)
    try:
        queue = Queue(engine, clock=clock, max_running_per_user=1, rng=random.Random(1))
        await queue.enqueue(new_job(user_id=1))
        await queue.enqueue(new_job(user_id=1))
        clock.advance(1)
        later = await queue.enqueue(new_job(user_id=2))
        first = await queue.claim("w1")
        second = await queue.claim("w2")
        assert first is not None and first.user_id == 1
        assert second is not None and second.id == later.job.id
        assert await queue.claim("w3") is None  # member 1's second job waits for their first
        assert await queue.succeed(first.id, first.claim_token, "out", 1.0)
        third = await queue.claim("w1")
        assert third is not None and third.user_id == 1
    finally:
        await engine.dispose()


async def test_simultaneous_claims_never_pass_the_running_cap(db_url: str, clock: FakeClock) -> None:
    """max_running_per_user = 1 and eight claims at the same instant on one member's five jobs: exactly one runs."""
    engine = make_engine(db_url)
    try:
        queue = Queue(engine, clock=clock, max_running_per_user=1, rng=random.Random(1))
        for _ in range(5):
            await queue.enqueue(new_job(user_id=1))
        claimed = await asyncio.gather(*(queue.claim(f"w{i}") for i in range(8)))
        assert len([job for job in claimed if job is not None]) == 1
    finally:
        await engine.dispose()
