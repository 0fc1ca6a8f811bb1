"""Bans, moderator cancellations and the audit trail on both databases, with a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from db import quotas
from db.models import JobStatus
from db.moderation import Moderation, Outcome, active_ban, record_action
from db.queue import Queue
from tests.db.conftest import FakeClock, new_job

GUILD, OTHER_GUILD = 100, 101
MOD, MEMBER, BYSTANDER = 7, 8, 9


@pytest.fixture
async def moderation(queue: Queue, clock: FakeClock) -> AsyncIterator[Moderation]:
    """Moderation on the queue's database and clock."""
    yield Moderation(queue.engine, clock=clock)


async def _queued(queue: Queue, user_id: int, n: int, guild_id: int = GUILD) -> list[int]:
    return [(await queue.enqueue(new_job(user_id=user_id, guild_id=guild_id))).job.id for _ in range(n)]


async def test_timed_ban_lifts_itself(moderation: Moderation, clock: FakeClock) -> None:
    """A one-hour ban is in force for the hour and gone a second after, with nothing run in between."""
    ban = (await moderation.ban(GUILD, MEMBER, MOD, duration=timedelta(hours=1), reason="spam")).ban
    assert ban.expires_at == clock.now + timedelta(hours=1) and ban.reason == "spam"
    clock.advance(3599)
    assert await moderation.active_ban(GUILD, MEMBER) == ban
    clock.advance(1)
    assert await moderation.active_ban(GUILD, MEMBER) is None


async def test_ban_without_duration_lasts_until_unban(moderation: Moderation, clock: FakeClock) -> None:
    """A ban without a duration holds a year later; unban lifts it and returns it; a second unban finds none."""
    ban = (await moderation.ban(GUILD, MEMBER, MOD, duration=None, reason="")).ban
    clock.advance(365 * 86400)
    assert await moderation.active_ban(GUILD, MEMBER) == ban
    lifted = await moderation.unban(GUILD, MEMBER, MOD)
    assert lifted.ban == ban and lifted.entry.action == "unban"
    assert await moderation.active_ban(GUILD, MEMBER) is None
    assert await moderation.unban(GUILD, MEMBER, MOD) == Outcome(None)


async def test_ban_is_per_guild(moderation: Moderation) -> None:
    """A ban in one guild says nothing about another guild, or about DMs."""
    await moderation.ban(GUILD, MEMBER, MOD, duration=None, reason="")
    assert await moderation.active_ban(OTHER_GUILD, MEMBER) is None
    assert await moderation.active_ban(None, MEMBER) is None


async def test_second_ban_replaces_the_first(moderation: Moderation, clock: FakeClock) -> None:
    """Banning again sets the new end: a permanent ban shortened to ten minutes lifts after ten minutes."""
    await moderation.ban(GUILD, MEMBER, MOD, duration=None, reason="first")
    second = (await moderation.ban(GUILD, MEMBER, MOD, duration=timedelta(minutes=10), reason="second")).ban
    assert (await moderation.active_ban(GUILD, MEMBER)) == second
    clock.advance(600)
    assert await moderation.active_ban(GUILD, MEMBER) is None


async def test_ban_rejects_a_duration_that_is_not_positive(moderation: Moderation) -> None:
    """A zero duration is a mistake, not a ban that never was."""
    with pytest.raises(ValueError, match="duration"):
        await moderation.ban(GUILD, MEMBER, MOD, duration=timedelta(0), reason="")


async def test_ban_cancels_only_the_members_waiting_jobs(moderation: Moderation, queue: Queue) -> None:
    """The banned member's waiting jobs here are cancelled; their running job, other guilds and others stay."""
    running_id = (await queue.enqueue(new_job(user_id=MEMBER))).job.id
    assert (await queue.claim("w1")).id == running_id
    waiting = await _queued(queue, MEMBER, 2)
    elsewhere = await _queued(queue, MEMBER, 1, guild_id=OTHER_GUILD)
    theirs = await _queued(queue, BYSTANDER, 1)
    cancelled = (await moderation.ban(GUILD, MEMBER, MOD, duration=None, reason="")).jobs
    assert [job.id for job in cancelled] == waiting
    assert all(job.status == JobStatus.cancelled and job.delivered_at is None for job in cancelled)
    statuses = {i: (await queue.get(i)).status for i in [running_id, *elsewhere, *theirs]}
    assert statuses == {running_id: "running", elsewhere[0]: "queued", theirs[0]: "queued"}


async def test_active_ban_runs_in_the_callers_transaction(moderation: Moderation, queue: Queue,
                                                          clock: FakeClock) -> None:
    """The admission door calls active_ban on its own connection, at its own `now`."""
    await moderation.ban(GUILD, MEMBER, MOD, duration=timedelta(seconds=30), reason="")
    async with moderation.write() as conn:
        assert (await active_ban(conn, GUILD, MEMBER, clock.now)) is not None
        assert (await active_ban(conn, GUILD, MEMBER, clock.now + timedelta(seconds=30))) is None
        assert (await active_ban(conn, GUILD, BYSTANDER, clock.now)) is None


async def test_cancel_job_stops_any_members_job(moderation: Moderation, queue: Queue) -> None:
    """A waiting job is cancelled at once; a running one is flagged for its worker; both are audited."""
    running_id, waiting_id = await _queued(queue, MEMBER, 2)
    await queue.claim("w1")
    (waiting,) = (await moderation.cancel_job(GUILD, waiting_id, MOD, reason="off topic")).jobs
    (running,) = (await moderation.cancel_job(GUILD, running_id, MOD)).jobs
    assert waiting.status == JobStatus.cancelled
    assert running.status == JobStatus.running and running.cancel_requested
    entries = await moderation.audit(GUILD)
    assert [(e.action, e.job_id, e.target_user_id, e.details["was"]) for e in entries] == [
        ("cancel", running_id, MEMBER, "running"), ("cancel", waiting_id, MEMBER, "queued")]
    assert entries[1].reason == "off topic" and entries[1].moderator_id == MOD


async def test_cancel_job_refuses_finished_and_foreign_jobs(moderation: Moderation, queue: Queue) -> None:
    """Unknown ids, other guilds' jobs and finished jobs are not cancelled, and nothing is audited."""
    (job_id,) = await _queued(queue, MEMBER, 1)
    (foreign_id,) = await _queued(queue, MEMBER, 1, guild_id=OTHER_GUILD)
    assert await moderation.cancel_job(GUILD, foreign_id, MOD) == Outcome(None)
    assert await moderation.cancel_job(GUILD, 999_999, MOD) == Outcome(None)
    await moderation.cancel_job(GUILD, job_id, MOD)
    assert await moderation.cancel_job(GUILD, job_id, MOD) == Outcome(None)
    assert len(await moderation.audit(GUILD)) == 1


async def test_purge_cancels_every_waiting_job_of_one_member(moderation: Moderation, queue: Queue) -> None:
    """Purge empties one member's waiting jobs and records which; another member's jobs stay."""
    mine = await _queued(queue, MEMBER, 3)
    theirs = await _queued(queue, BYSTANDER, 1)
    cancelled = (await moderation.purge(GUILD, MEMBER, MOD)).jobs
    assert [job.id for job in cancelled] == mine
    assert (await queue.get(theirs[0])).status == JobStatus.queued
    (entry,) = await moderation.audit(GUILD, user_id=MEMBER)
    assert (entry.action, entry.details["cancelled_jobs"]) == ("purge", mine)


async def test_audit_is_newest_first_and_filters_by_member(moderation: Moderation, clock: FakeClock) -> None:
    """Every action is stored with who, what, whom, when and why; the member filter keeps only theirs."""
    await moderation.ban(GUILD, MEMBER, MOD, duration=timedelta(hours=2), reason="spam")
    clock.advance(60)
    await moderation.purge(GUILD, BYSTANDER, MOD, reason="flood")
    clock.advance(60)
    await moderation.unban(GUILD, MEMBER, MOD, reason="appealed")
    await moderation.record(guild_id=OTHER_GUILD, moderator_id=MOD, action="quota_set", target_user_id=MEMBER)
    everything = await moderation.audit(GUILD)
    assert [(e.action, e.target_user_id, e.reason) for e in everything] == [
        ("unban", MEMBER, "appealed"), ("purge", BYSTANDER, "flood"), ("ban", MEMBER, "spam")]
    assert everything[0].created_at == clock.now and everything[2].moderator_id == MOD
    assert everything[2].details["expires_at"] == (clock.now - timedelta(seconds=120) + timedelta(hours=2)).isoformat()
    assert [e.action for e in await moderation.audit(GUILD, user_id=MEMBER, limit=1)] == ["unban"]


async def test_audit_action_names_are_checked(moderation: Moderation) -> None:
    """An empty or over-long action name is a programming error, refused before it is stored."""
    async with moderation.write() as conn:
        with pytest.raises(ValueError, match="action"):
            await record_action(conn, moderation.now(), guild_id=GUILD, moderator_id=MOD, action="x" * 33)


async def test_active_jobs_lists_running_then_waiting_in_queue_order(moderation: Moderation, queue: Queue) -> None:
    """/mod queue's rows: running first (position 0), then waiting with their place in the whole queue."""
    first = await _queued(queue, MEMBER, 1)
    foreign = await _queued(queue, BYSTANDER, 1, guild_id=OTHER_GUILD)
    rest = await _queued(queue, BYSTANDER, 2)
    await queue.claim("w1")
    entries = await moderation.active_jobs(GUILD)
    assert [(e.job.id, e.position, e.job.status) for e in entries] == [
        (first[0], 0, "running"), (rest[0], 2, "queued"), (rest[1], 3, "queued")]
    assert foreign[0] not in [e.job.id for e in entries]
    assert len(await moderation.active_jobs(GUILD, limit=2)) == 2


async def test_quota_changes_and_their_audit_entries_commit_together(moderation: Moderation,
                                                                    clock: FakeClock) -> None:
    """set, grant and reset change the member's budget and each writes its audit entry with the figures."""
    tier = quotas.Budget(200, 900.0)

    async def usage() -> quotas.Usage:
        async with moderation.write() as conn:
            return await quotas.usage_in(conn, MEMBER, tier, clock.now)

    await moderation.set_quota(GUILD, MEMBER, MOD, images_per_day=8, gpu_seconds_per_day=60.0)
    assert (await usage()).allowance == quotas.Budget(8, 60.0)
    await moderation.grant_quota(GUILD, MEMBER, MOD, images=4, gpu_seconds=30.0)
    assert (await usage()).allowance == quotas.Budget(12, 90.0)
    async with moderation.write() as conn:
        await quotas.reserve(conn, MEMBER, None, quotas.Budget(4, 10.0), 1.0, clock.now)
    assert (await usage()).used == quotas.Budget(4, 10.0)
    await moderation.reset_quota(GUILD, MEMBER, MOD)
    after = await usage()
    assert after.used == quotas.Budget(0, 0.0) and not after.overridden
    assert after.allowance == quotas.Budget(204, 930.0)  # the tier again, plus today's grant
    entries = await moderation.audit(GUILD, user_id=MEMBER)
    assert [(e.action, e.details) for e in entries] == [
        ("quota_reset", {}), ("quota_grant", {"images": 4, "gpu_seconds": 30.0}),
        ("quota_set", {"images_per_day": 8, "gpu_seconds_per_day": 60.0})]


async def test_refused_quota_change_records_nothing(moderation: Moderation) -> None:
    """A negative override fails as a whole: no override, no audit entry."""
    with pytest.raises(ValueError, match="negative"):
        await moderation.set_quota(GUILD, MEMBER, MOD, images_per_day=-1, gpu_seconds_per_day=60.0)
    assert await moderation.audit(GUILD) == []
