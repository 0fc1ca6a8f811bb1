"""Refused prompts, appeals and holds on both databases: answered once, audited, at most five appeals a day."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from db.models import ModerationAction
from db.queue import Queue
from db.safety import AppealRefused, SafetyStore
from tests.db.conftest import FakeClock, new_job

GUILD, CHANNEL, MEMBER, MOD = 100, 200, 8, 7


@pytest.fixture
async def safety(queue: Queue, clock: FakeClock) -> AsyncIterator[SafetyStore]:
    """The safety store on the queue's database and clock."""
    yield SafetyStore(queue.engine, clock=clock)


async def _block(safety: SafetyStore, user_id: int = MEMBER) -> int:
    block = await safety.record_block(guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, role_ids=[5],
                                      kind="imagine", prompt="a nude statue", params={"prompt": "a nude statue"},
                                      rule='word "nude"')
    return block.id


async def _actions(queue: Queue) -> list[tuple[str, int | None]]:
    async with queue.engine.connect() as conn:
        rows = await conn.execute(select(ModerationAction.action, ModerationAction.job_id))
        return [tuple(row) for row in rows]


async def test_a_block_keeps_the_whole_request(safety: SafetyStore) -> None:
    """What was refused comes back as stored: member, roles, kind, prompt, params and the rule."""
    block = await safety.block(await _block(safety))
    assert (block.user_id, block.role_ids, block.kind, block.params, block.rule) == (
        MEMBER, [5], "imagine", {"prompt": "a nude statue"}, 'word "nude"')
    assert block.appealed_at is None and block.decision is None


async def test_ten_appeals_at_once_allow_exactly_five(safety: SafetyStore) -> None:
    """Ten appeals of ten blocks sent at the same instant: five are taken, five refused (no count race)."""
    blocks = [await _block(safety) for _ in range(10)]
    results = await asyncio.gather(*(safety.appeal(b, MEMBER) for b in blocks), return_exceptions=True)
    refused = [r for r in results if isinstance(r, AppealRefused)]
    assert len(refused) == 5 and all("5 appeals" in str(r) for r in refused)
    assert len([r for r in results if not isinstance(r, BaseException)]) == 5


async def test_five_appeals_in_any_24_hours(safety: SafetyStore, clock: FakeClock) -> None:
    """The sixth appeal within a day is refused; once the first is 24 h old, one more is allowed."""
    blocks = [await _block(safety) for _ in range(7)]
    for block_id in blocks[:5]:
        await safety.appeal(block_id, MEMBER)
        clock.advance(60)
    with pytest.raises(AppealRefused, match="5 appeals"):
        await safety.appeal(blocks[5], MEMBER)
    clock.advance(24 * 3600 - 5 * 60 + 1)
    await safety.appeal(blocks[5], MEMBER)
    with pytest.raises(AppealRefused, match="5 appeals"):
        await safety.appeal(blocks[6], MEMBER)


async def test_an_appeal_is_the_members_own_and_happens_once(safety: SafetyStore) -> None:
    """Another member cannot appeal a block; the same block cannot be appealed twice."""
    block_id = await _block(safety)
    with pytest.raises(AppealRefused, match="Only the member"):
        await safety.appeal(block_id, MEMBER + 1)
    await safety.appeal(block_id, MEMBER)
    with pytest.raises(AppealRefused, match="already appealed"):
        await safety.appeal(block_id, MEMBER)


async def test_concurrent_answers_decide_once_and_audit_once(safety: SafetyStore, queue: Queue) -> None:
    """Two moderators answering at the same moment: exactly one decision, one audit entry."""
    block_id = await _block(safety)
    assert await safety.decide(block_id, MOD, "kept") is None  # not appealed yet: nothing to answer
    await safety.appeal(block_id, MEMBER)
    results = await asyncio.gather(safety.decide(block_id, MOD, "allowed", job_id=42),
                                   safety.decide(block_id, MOD + 1, "kept"), return_exceptions=True)
    decided = [r for r in results if r is not None]
    assert len(decided) == 1 and not isinstance(decided[0], BaseException)
    assert len(await _actions(queue)) == 1


async def test_a_hold_is_made_once_and_released_once(safety: SafetyStore, queue: Queue) -> None:
    """hold() finds the existing hold on a re-delivery; release and delete race, one wins and is audited."""
    job_id = (await queue.enqueue(new_job(user_id=MEMBER, guild_id=GUILD))).job.id
    first = await safety.hold(job_id)
    await safety.set_hold_message(job_id, log_message_id=99)
    again = await safety.hold(job_id)
    assert (first.state, again.log_message_id, again.created_at) == ("held", 99, first.created_at)
    results = await asyncio.gather(
        safety.decide_hold(job_id, MOD, "released", guild_id=GUILD, user_id=MEMBER),
        safety.decide_hold(job_id, MOD + 1, "deleted", guild_id=GUILD, user_id=MEMBER), return_exceptions=True)
    assert len([r for r in results if r is not None]) == 1
    assert (await safety.get_hold(job_id)).state in ("released", "deleted")
    assert await _actions(queue) in ([("nsfw_release", job_id)], [("nsfw_delete", job_id)])
