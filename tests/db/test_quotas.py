"""The quota ledger on both databases: reserve, settle, refund, grants, overrides, resets and the UTC day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from db.limits import lock_admission
from db.queue import Queue
from db.quotas import Budget, CostModel, QuotaExceeded, Quotas, check_quota, job_cost, next_reset, reserve
from db.views import JobView
from tests.db.conftest import FakeClock, new_job

TIER = Budget(images=10, gpu_seconds=100.0)


class QuotaOnly:
    """The door's quota step alone: check, then reserve after the insert."""

    def __init__(self, user_id: int, cost: Budget, tier: Budget = TIER, multiplier: float = 1.0) -> None:
        self.user_id, self.cost, self.tier, self.multiplier = user_id, cost, tier, multiplier

    async def check(self, session: AsyncConnection, now: datetime) -> None:
        await lock_admission(session)
        await check_quota(session, self.user_id, self.tier, self.cost, now)

    async def record(self, session: AsyncConnection, job: JobView, now: datetime) -> None:
        await reserve(session, self.user_id, job.id, self.cost, self.multiplier, now)


@pytest.fixture
def quotas(queue: Queue, clock: FakeClock) -> Quotas:
    """The engine-level quota functions on the queue's database and clock."""
    return Quotas(queue.engine, clock=clock)


async def _queue_job(queue: Queue, cost: Budget, user_id: int = 1, **kw: object) -> JobView:
    return (await queue.enqueue(new_job(user_id=user_id), admit=QuotaOnly(user_id, cost, **kw))).job


async def test_reservation_counts_at_once_and_blocks_past_the_budget(queue: Queue, quotas: Quotas) -> None:
    """Queued jobs are charged their estimate, so a member can't queue past their budget."""
    await _queue_job(queue, Budget(4, 10.0))
    await _queue_job(queue, Budget(4, 10.0))
    assert (await quotas.usage(1, TIER)).used == Budget(8, 20.0)
    with pytest.raises(QuotaExceeded, match="needs 4 image\\(s\\) of your daily quota and you have 2 of 10 left"):
        await _queue_job(queue, Budget(4, 10.0))
    assert sum((await queue.counts()).values()) == 2


async def test_the_edge_of_the_budget_is_allowed(queue: Queue, quotas: Quotas) -> None:
    """A job that uses exactly what is left is admitted; the next image isn't."""
    await _queue_job(queue, Budget(10, 100.0))
    assert (await quotas.usage(1, TIER)).left == Budget(0, 0.0)
    with pytest.raises(QuotaExceeded):
        await _queue_job(queue, Budget(1, 0.0))


async def test_gpu_seconds_are_a_budget_of_their_own(queue: Queue) -> None:
    """A job whose estimated GPU seconds don't fit is refused even with images left; it frees up at 00:00 UTC."""
    await _queue_job(queue, Budget(1, 90.0))
    with pytest.raises(QuotaExceeded, match="about 20 GPU seconds") as refused:
        await _queue_job(queue, Budget(1, 20.0))
    assert refused.value.frees_at == datetime(2026, 1, 2, tzinfo=UTC)


async def test_settle_replaces_the_estimate_with_the_measured_seconds(queue: Queue, quotas: Quotas) -> None:
    """On success the ledger charges the measured GPU seconds, times the channel's multiplier."""
    await _queue_job(queue, Budget(4, 30.0), multiplier=2.0)
    job = await queue.claim("w1")
    assert await queue.succeed(job.id, job.claim_token, "out", 5.0)
    assert await queue.succeed(job.id, job.claim_token, "out", 5.0)  # a retried success charges nothing more
    assert (await quotas.usage(1, TIER)).used == Budget(4, 10.0)


@pytest.mark.parametrize("ending", ["cancel_queued", "cancel_running", "fail", "poison"])
async def test_failed_and_cancelled_jobs_are_refunded_in_full(queue: Queue, quotas: Quotas, clock: FakeClock,
                                                               ending: str) -> None:
    """However a job ends without images, its whole reservation comes back, once."""
    job = await _queue_job(queue, Budget(4, 30.0))
    if ending == "cancel_queued":
        await queue.cancel(job.id, 1)
    else:
        claimed = await queue.claim("w1")
        if ending == "cancel_running":
            await queue.cancel(job.id, 1)
            assert await queue.finish_cancelled(job.id, claimed.claim_token)
        elif ending == "fail":
            assert (await queue.fail(job.id, claimed.claim_token, "bad prompt", retriable=False)).status == "failed"
        else:  # its worker dies twice: a poison job
            clock.advance(61)
            await queue.reclaim_expired()
            again = await queue.claim("w2")
            clock.advance(61)
            await queue.reclaim_expired()
            assert again is not None and (await queue.get(job.id)).status == "failed"
    assert (await quotas.usage(1, TIER)).used == Budget(0, 0.0)


async def test_a_retried_job_keeps_its_reservation(queue: Queue, quotas: Quotas) -> None:
    """A retriable failure sends the job back to the queue, still charged (it will run again)."""
    job = await _queue_job(queue, Budget(4, 30.0))
    claimed = await queue.claim("w1")
    assert (await queue.fail(job.id, claimed.claim_token, "driver hiccup", retriable=True)).status == "queued"
    assert (await quotas.usage(1, TIER)).used == Budget(4, 30.0)


async def test_the_utc_day_rolls_over_at_midnight(queue: Queue, quotas: Quotas, clock: FakeClock) -> None:
    """Use is summed per UTC day: at 00:00 UTC the budget is whole again, and a late settle charges its own day."""
    clock.now = datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    await _queue_job(queue, Budget(10, 50.0))
    job = await queue.claim("w1")
    clock.advance(2)  # 00:00:01 on the 2nd
    assert await queue.succeed(job.id, job.claim_token, "out", 40.0)
    usage = await quotas.usage(1, TIER)
    assert usage.used == Budget(0, 0.0) and usage.resets_at == datetime(2026, 1, 3, tzinfo=UTC)
    assert (await _queue_job(queue, Budget(10, 50.0))).id


async def test_override_grant_and_reset(queue: Queue, quotas: Quotas) -> None:
    """A moderator's override replaces the tier; a grant adds to today; a reset forgives today's use."""
    await quotas.set_override(1, images_per_day=4, gpu_seconds_per_day=None, by=9)
    usage = await quotas.usage(1, TIER)
    assert usage.allowance == Budget(4, 100.0) and usage.overridden
    await _queue_job(queue, Budget(4, 10.0))
    with pytest.raises(QuotaExceeded):
        await _queue_job(queue, Budget(1, 1.0))
    await quotas.grant(1, images=2, gpu_seconds=0, by=9)
    assert (await quotas.usage(1, TIER)).left == Budget(2, 90.0)
    await quotas.reset(1, by=9)
    assert (await quotas.usage(1, TIER)).used == Budget(0, 0.0)
    await quotas.set_override(1, None, None, by=9)
    assert (await quotas.usage(1, TIER)).allowance == Budget(12, 100.0)  # tier plus today's grant


async def test_quotas_are_per_member(queue: Queue, quotas: Quotas) -> None:
    """One member's use never counts against another's."""
    await _queue_job(queue, Budget(10, 10.0), user_id=1)
    assert (await _queue_job(queue, Budget(10, 10.0), user_id=2)).id
    assert (await quotas.usage(2, TIER)).used == Budget(10, 10.0)


def test_costs_and_reset_times() -> None:
    """A multiplier scales both parts (images round up); the day resets at the next 00:00 UTC."""
    assert job_cost(4, 10.0, 0.5) == Budget(2, 5.0)
    assert job_cost(1, 10.0, 0.5) == Budget(1, 5.0)
    assert job_cost(4, 10.0, 0.0) == Budget(0, 0.0)
    assert next_reset(datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) == datetime(2026, 3, 2, tzinfo=UTC)


async def test_the_cost_model_learns_from_successes(queue: Queue) -> None:
    """Without history the default rate applies; after a success the estimate follows the measured rate."""
    model, ticks = CostModel(monotonic=lambda: ticks[0]), [0.0]
    async with queue.engine.connect() as session:
        assert await model.estimate(session, 4, 25, 512 * 512) == pytest.approx(0.2 * 4 * 25 * 0.262144)
    await queue.enqueue(new_job(params={"seeds": [1], "num_inference_steps": 10, "width": 1000, "height": 1000}))
    job = await queue.claim("w1")
    assert await queue.succeed(job.id, job.claim_token, "out", 20.0)  # 2 s per megapixel-step
    ticks[0] = 61.0
    async with queue.engine.connect() as session:
        assert await model.estimate(session, 1, 10, 1_000_000) == pytest.approx(20.0)
