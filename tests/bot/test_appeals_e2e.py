"""Appeals end to end: a blocked prompt's "Appeal" reaches the log channel; moderators allow once or keep it blocked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import ModerationSettings, WorkerSettings
from db.models import ModerationAction
from tests.bot.conftest import BotRunner, custom_ids, is_result, wait_result
from tests.fakediscord.messages import Message


@pytest.fixture
async def appeals(runner: BotRunner) -> BotRunner:
    """"nude" banned, bob's Moderator role configured, #imagine as the log channel; no worker (nothing runs)."""
    fake = runner.fake
    runner.config = replace(runner.config, worker=WorkerSettings(embedded=False),
                            moderation=ModerationSettings(moderator_role_ids=(fake.moderator_role_id,),
                                                          log_channel_id=fake.other_channel_id,
                                                          banned_words=("nude",)))
    await runner.restart()
    return runner


async def _blocked(runner: BotRunner, prompt: str = "a nüde statue --seed 77 --steps 9") -> Message:
    """carol's refused /imagine, as the ephemeral message she sees (with its Appeal button)."""
    fake = runner.fake
    inter = await fake.invoke_slash("imagine", {"prompt": prompt}, user_id=fake.users[2])
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "blocked" in reply.content and "nude" not in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == 0
    return inter.original


async def _appeal(runner: BotRunner) -> Message:
    """carol appeals; the appeal's post in the moderator log channel."""
    fake = runner.fake
    refusal = await _blocked(runner)
    (appeal,) = custom_ids(refusal)
    assert appeal.startswith("safety:appeal:")
    mark = fake.mark()
    click = await fake.click(refusal.id, appeal, user_id=fake.users[2])
    assert "sent to the moderators" in (await click.wait_response(timeout=3)).content
    return await fake.wait_for_message(fake.other_channel_id, lambda m: "Appeal" in m.content, after=mark)


async def _audit_actions(runner: BotRunner) -> list[str]:
    async with runner.bot.queue.engine.connect() as conn:
        return list((await conn.execute(select(ModerationAction.action))).scalars())


async def test_a_blocked_prompt_can_be_appealed_to_the_log_channel(appeals: BotRunner) -> None:
    """The appeal shows the member, the matched rule and the prompt, with "Allow once" and "Keep blocked"."""
    fake = appeals.fake
    post = await _appeal(appeals)
    assert f"<@{fake.users[2]}>" in post.content and 'word "nude"' in post.content and "nüde statue" in post.content
    labels = [c["label"] for row in post.components for c in row["components"]]
    assert labels == ["Allow once", "Keep blocked"]


async def test_allow_once_by_a_moderator_queues_the_exact_prompt(appeals: BotRunner) -> None:
    """bob (Moderator) clicks "Allow once": carol's prompt is queued as asked, she is told, the answer is audited."""
    fake = appeals.fake
    post = await _appeal(appeals)
    allow = next(c for c in custom_ids(post) if c.startswith("safety:allow:"))
    mark = fake.mark()
    click = await fake.click(post.id, allow, user_id=fake.users[1])
    await click.wait_response(timeout=3)
    told = await fake.wait_for_message(predicate=lambda m: "allowed your blocked prompt" in m.content, after=mark)
    assert f"<@{fake.users[2]}>" in told.content
    (job,) = await appeals.bot.queue.recent_jobs(fake.users[2])
    assert (job.prompt, job.base_seed, job.channel_id, job.status) == ("a nüde statue", 77, fake.channel_id, "queued")
    assert job.params["num_inference_steps"] == 9  # the prompt's flags are kept
    assert f"job #{job.id}" in fake.message(post.id).content and custom_ids(fake.message(post.id)) == []
    assert await _audit_actions(appeals) == ["appeal_allow"]


async def test_a_non_moderator_cannot_answer_an_appeal(appeals: BotRunner) -> None:
    """carol (no moderator role) clicking "Allow once" on her own appeal is refused; nothing is queued."""
    fake = appeals.fake
    post = await _appeal(appeals)
    allow = next(c for c in custom_ids(post) if c.startswith("safety:allow:"))
    click = await fake.click(post.id, allow, user_id=fake.users[2])
    reply = await click.wait_response(timeout=3)
    assert reply.ephemeral and "Only moderators" in reply.content
    assert sum((await appeals.bot.queue.counts()).values()) == 0
    assert custom_ids(fake.message(post.id)) == custom_ids(post)
    assert await _audit_actions(appeals) == []


async def test_keep_blocked_is_audited_and_queues_nothing(appeals: BotRunner) -> None:
    """"Keep blocked" closes the appeal (buttons removed) and writes an audit entry."""
    fake = appeals.fake
    post = await _appeal(appeals)
    keep = next(c for c in custom_ids(post) if c.startswith("safety:keep:"))
    await (await fake.click(post.id, keep, user_id=fake.users[1])).wait_response(timeout=3)
    assert "Kept blocked" in fake.message(post.id).content and custom_ids(fake.message(post.id)) == []
    assert sum((await appeals.bot.queue.counts()).values()) == 0
    assert await _audit_actions(appeals) == ["appeal_keep"]


async def test_at_most_five_appeals_a_day(appeals: BotRunner) -> None:
    """A member's sixth appeal within 24 hours is refused; a day later they may appeal again."""
    fake = appeals.fake
    for _ in range(5):
        await _appeal(appeals)
    refusal = await _blocked(appeals)
    click = await fake.click(refusal.id, custom_ids(refusal)[0], user_id=fake.users[2])
    assert "5 appeals in the last 24 hours" in (await click.wait_response(timeout=3)).content
    appeals.bot.submissions.safety._clock = lambda: appeals.bot.queue.now() + timedelta(hours=25)
    click = await fake.click(refusal.id, custom_ids(refusal)[0], user_id=fake.users[2])
    assert "sent to the moderators" in (await click.wait_response(timeout=3)).content


async def test_only_the_blocked_member_can_appeal(appeals: BotRunner) -> None:
    """Someone else clicking carol's Appeal button is refused."""
    fake = appeals.fake
    refusal = await _blocked(appeals)
    click = await fake.click(refusal.id, custom_ids(refusal)[0], user_id=fake.users[0])
    assert "Only the member" in (await click.wait_response(timeout=3)).content


async def test_the_allowed_prompt_is_generated_and_delivered(appeals: BotRunner) -> None:
    """With a worker running, the allowed job ends as a posted grid in the member's channel."""
    fake = appeals.fake
    appeals.config = replace(appeals.config, worker=WorkerSettings(embedded=True, shutdown_grace_seconds=5))
    await appeals.restart()
    post = await _appeal(appeals)
    mark = fake.mark()
    await fake.click(post.id, next(c for c in custom_ids(post) if c.startswith("safety:allow:")), user_id=fake.users[1])
    result = await wait_result(fake, mark)
    assert is_result(result) and "nüde statue" in result.content
