"""Delivery on Discord's bad days: 429s, minutes of 5xx, refused channels, closed DMs, tight upload limits."""

from __future__ import annotations

import asyncio

from PIL import Image

from tests.bot.conftest import BotRunner, custom_ids, forget_delivery, is_result, until, wait_result
from tests.fakediscord.bodies import Body

MESSAGES = "/channels/{channel_id}/messages"


def result_post(body: Body) -> bool:
    """A result: a file and buttons (status messages and notices have no buttons)."""
    return bool(body.files) and bool((body.json or {}).get("components"))


def job_id_of(message) -> int:
    """The job behind a result message, from its buttons."""
    return int(custom_ids(message)[0].split(":")[2])


async def settled(runner: BotRunner, job_id: int, timeout: float = 120.0):
    """The job once its delivery is recorded (delivered_at set)."""
    async with asyncio.timeout(timeout):
        while (job := await runner.bot.queue.get(job_id)).delivered_at is None:
            await asyncio.sleep(0.05)
    return job


async def queued_job(runner: BotRunner, prompt: str, **kw) -> int:
    """/imagine, acknowledged; the new job's id."""
    inter = await runner.fake.invoke_slash("imagine", {"prompt": prompt}, **kw)
    reply = await inter.wait_response(timeout=3)
    return int(reply.content.split("job #")[1].split(":")[0])


async def test_a_429_on_message_create_is_waited_out_and_posted_once(runner: BotRunner) -> None:
    """Discord says 429 (retry_after 0.5 s) to the result's post: it is sent again after the wait, and only once."""
    fake = runner.fake
    limited = fake.inject_fault("POST", MESSAGES, 429, times=1, retry_after=0.5, when=result_post)
    mark = fake.mark()
    job_id = await queued_job(runner, "a lighthouse")
    result = await wait_result(fake, mark)
    await settled(runner, job_id)
    posts = [r for r in fake.requests if r.method == "POST" and r.template == MESSAGES and r.files
             and (r.json or {}).get("components")]
    assert [r.status for r in posts] == [429, 200] and len(limited.hits) == 1
    assert posts[1].at - posts[0].at >= 0.5
    assert [m.id for m in fake.channel_messages() if is_result(m)] == [result.id]


async def test_5xx_for_two_minutes_then_recovery_posts_once_and_others_go_meanwhile(runner: BotRunner) -> None:
    """503s on one channel for two minutes (fake clock): other channels' jobs are delivered meanwhile, then the
    waiting result is posted exactly once."""
    fake = runner.fake
    runner.clock = fake.clock.utcnow  # the queue and the fake travel in time together
    await runner.restart()
    outage = fake.inject_fault("POST", MESSAGES, 503, channel_id=fake.channel_id, for_seconds=120, when=result_post)
    stuck = await queued_job(runner, "a stuck lighthouse")
    await until(lambda: len(outage.hits) >= 1, timeout=60)
    mark = fake.mark()
    other = await queued_job(runner, "a free lighthouse", channel_id=fake.other_channel_id, user_id=fake.users[1])
    delivered = await fake.wait_for_message(fake.other_channel_id, is_result, timeout=60, after=mark)
    assert job_id_of(delivered) == other
    assert (await runner.bot.queue.get(stuck)).delivered_at is None
    for _ in range(40):  # ten minutes of fake time, at most
        fake.advance_clock(15)
        runner.bot.delivery.wakeup.set()
        async with asyncio.timeout(10):  # until the round ran: delivered, or waiting for a later retry
            while True:
                job = await runner.bot.queue.get(stuck)
                if job.delivered_at is not None or job.delivery_due_at > runner.bot.queue.now():
                    break
                await asyncio.sleep(0.02)
        if job.delivered_at is not None:
            break
    assert job.delivery_failed is None and len(outage.hits) >= 2
    posted = [m for m in fake.channel_messages() if is_result(m) and job_id_of(m) == stuck]
    assert len(posted) == 1 and posted[0].id == job.result_message_id


async def test_a_refused_channel_sends_the_result_as_an_ephemeral_follow_up(runner: BotRunner) -> None:
    """403 Missing Permissions on the post: not retried; the member gets the result privately on their interaction."""
    fake = runner.fake
    refused = fake.inject_fault("POST", MESSAGES, 403, when=result_post)
    job_id = await queued_job(runner, "a hidden lighthouse")
    job = await settled(runner, job_id)
    private = [m for m in fake.channel_messages(include_ephemeral=True) if m.ephemeral and m.attachments]
    assert len(private) == 1 and "only you can see it" in private[0].content and custom_ids(private[0])
    assert len(refused.hits) == 1  # a 4xx is never retried
    assert "403" in job.delivery_failed and "private follow-up" in job.delivery_failed


async def test_an_oversized_result_is_re_encoded_under_the_limit(runner: BotRunner) -> None:
    """An interaction allowing fewer bytes than the PNG gets a WebP/JPEG under its limit; the PNG stays on disk."""
    fake = runner.fake
    fake.inject_fault("POST", MESSAGES, 403, when=result_post)  # so the result goes through the interaction
    limit = fake.world.attachment_size_limit = 20_000  # what the interaction announces and enforces
    job_id = await queued_job(runner, "a detailed lighthouse")
    await settled(runner, job_id)
    png = runner.config.outputs_dir / str(job_id) / "grid.png"
    private = [m for m in fake.channel_messages(include_ephemeral=True) if m.ephemeral and m.attachments]
    assert len(private) == 1
    sent = private[0].attachments[0]
    assert len(sent.data) <= limit and sent.filename.endswith((".webp", ".jpg"))
    assert "lossless PNG" in private[0].content
    with Image.open(png) as kept:  # the lossless original stays on disk, too big for this interaction
        assert kept.format == "PNG" and png.stat().st_size > limit


async def test_after_the_interaction_expires_the_result_goes_by_dm(runner: BotRunner) -> None:
    """Channel refused and the 15-minute token gone: the member gets a DM with the result."""
    fake = runner.fake
    fake.inject_fault("POST", MESSAGES, 403, channel_id=fake.channel_id, when=result_post)
    member = fake.users[2]
    job_id = await queued_job(runner, "a late lighthouse", user_id=member)
    fake.advance_clock(16 * 60)
    job = await settled(runner, job_id)
    dms = fake.channel_messages(fake.dm_channel_id(member))
    assert len(dms) == 1 and dms[0].attachments and f"<#{fake.channel_id}>" in dms[0].content
    assert "DM" in job.delivery_failed


async def test_an_unreachable_member_is_recorded_as_delivery_failed(runner: BotRunner) -> None:
    """Channel refused, token expired, DMs closed: nothing is posted twice and the reason is kept for /info."""
    fake = runner.fake
    fake.inject_fault("POST", MESSAGES, 403, channel_id=fake.channel_id, when=result_post)
    member = fake.users[2]
    closed = fake.inject_fault("POST", MESSAGES, 403, channel_id=fake.dm_channel_id(member), code=50007,
                               message="Cannot send messages to this user")
    job_id = await queued_job(runner, "an unseen lighthouse", user_id=member)
    fake.advance_clock(16 * 60)
    job = await settled(runner, job_id)
    assert len(closed.hits) == 1
    assert "Missing Permissions" in job.delivery_failed and "could not be told" in job.delivery_failed
    assert job.result_message_id is None


async def test_a_redelivery_without_read_message_history_reaches_the_member(runner: BotRunner) -> None:
    """A retry must check the channel for an earlier post; without Read Message History it can't, so the member
    gets the result by DM instead of a possible second post."""
    fake = runner.fake
    mark = fake.mark()
    job_id = await queued_job(runner, "a lantern")
    posted = await wait_result(fake, mark)
    await settled(runner, job_id)
    await runner.stop()
    await forget_delivery(runner.config, job_id)
    fake.inject_fault("GET", MESSAGES, 403, channel_id=fake.channel_id)
    await runner.start()
    job = await settled(runner, job_id)
    assert "Read Message History" in job.delivery_failed and "DM" in job.delivery_failed
    assert fake.channel_messages(fake.dm_channel_id(fake.users[0]))[0].attachments
    assert [m.id for m in fake.channel_messages() if is_result(m)] == [posted.id]
