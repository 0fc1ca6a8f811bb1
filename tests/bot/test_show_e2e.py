"""/show end to end: a past job posted again where asked, with buttons that work, also after a restart."""

from __future__ import annotations

import asyncio

from tests.bot.conftest import BotRunner, custom_ids, is_result, recorded_job, wait_result
from tests.fakediscord.state import VIEW_CHANNEL, Overwrite


async def _grid(runner: BotRunner) -> tuple[int, int]:
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "an old map --seed 12"}, user_id=fake.users[0])
    message = await wait_result(fake, mark)
    job_id = await recorded_job(runner, message)
    return message.id, job_id


async def _deferred_text(inter) -> str:
    await inter.wait_response(timeout=3)
    async with asyncio.timeout(10):
        while inter.original is None or not inter.original.content:
            await asyncio.sleep(0.02)
    return inter.original.content


async def test_show_reposts_in_the_asking_channel_with_working_buttons(runner: BotRunner) -> None:
    """/show by message link posts the grid in the channel where it was asked; its V2 and U1 queue children."""
    fake = runner.fake
    message_id, job_id = await _grid(runner)
    link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/{message_id}"
    mark = fake.mark()
    inter = await fake.invoke_slash("show", {"job": link}, user_id=fake.users[2], channel_id=fake.other_channel_id)
    assert f"Posted job #{job_id}" in await _deferred_text(inter)
    shown = await fake.wait_for_message(fake.other_channel_id, is_result, after=mark)
    assert custom_ids(shown) == custom_ids(fake.message(message_id))
    assert shown.attachments[0].data == fake.message(message_id).attachments[0].data
    mark = fake.mark()
    click = await fake.click(shown.id, f"imagine:v:{job_id}:2", user_id=fake.users[2])
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    child = await fake.wait_for_message(fake.other_channel_id, is_result, after=mark, timeout=60)
    assert f"variations of #{job_id}, tile 2" in child.content


async def test_shown_buttons_work_after_a_restart(runner: BotRunner) -> None:
    """A /show post's buttons are the same DynamicItems: after a restart, its re-roll still queues and delivers."""
    fake = runner.fake
    _, job_id = await _grid(runner)
    mark = fake.mark()
    await _deferred_text(await fake.invoke_slash("show", {"job": str(job_id)}))
    shown = await fake.wait_for_message(predicate=is_result, after=mark)
    await runner.restart()
    mark = fake.mark()
    click = await fake.click(shown.id, f"imagine:r:{job_id}:0")
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    await wait_result(fake, mark)


async def test_show_refuses_unknown_and_unfinished_jobs(runner: BotRunner) -> None:
    """A job id that doesn't exist, or text that is no id, gets a private message and posts nothing."""
    fake = runner.fake
    before = fake.message_count()
    for given, needle in (("999", "no job #999"), ("hello", "not a job id")):
        reply = await (await fake.invoke_slash("show", {"job": given})).wait_response(timeout=3)
        assert reply.ephemeral and needle in reply.content
    assert fake.message_count() == before


async def test_show_meets_the_channel_checks_of_a_button_click(runner: BotRunner) -> None:
    """A job from a channel the member can't see is not shown to them elsewhere, and its prompt stays hidden."""
    fake = runner.fake
    world = fake.world
    hidden = [Overwrite(world.guild_id, 0, deny=VIEW_CHANNEL),
              Overwrite(world.moderator_role_id, 0, allow=VIEW_CHANNEL), Overwrite(world.bot.id, 1, allow=VIEW_CHANNEL)]
    staff = world.add_text_channel("staff", overwrites=hidden).id
    await runner.restart()
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "the secret staff plan"}, channel_id=staff, user_id=fake.users[1])
    job_id = int(custom_ids(await fake.wait_for_message(staff, is_result, after=mark, timeout=60))[0].split(":")[2])
    before = fake.message_count()
    reply = await (await fake.invoke_slash("show", {"job": str(job_id)}, user_id=fake.users[2])).wait_response(3)
    assert reply.ephemeral and f"Job #{job_id} was made in a channel you can't use it from here" in reply.content
    assert "secret" not in reply.content and fake.message_count() == before
