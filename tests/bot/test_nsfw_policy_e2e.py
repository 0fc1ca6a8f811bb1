"""Flagged results end to end with the real classifier (threshold 0 flags every image): spoilers and holds."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.config import ModerationSettings, SafetySettings
from bot.config_tables import parse_profiles
from tests.bot.conftest import BotRunner, custom_ids, forget_delivery, is_result, until, wait_result
from tests.bot.test_imagine_e2e import until_async
from tests.fakediscord.messages import Message


async def _configure(runner: BotRunner, profiles: dict) -> BotRunner:
    fake = runner.fake
    runner.config = replace(runner.config, safety=SafetySettings(classifier="opennsfw", threshold=0.0),
                            profiles=parse_profiles(profiles, {"default"}),
                            moderation=ModerationSettings(moderator_role_ids=(fake.moderator_role_id,),
                                                          log_channel_id=fake.other_channel_id))
    await runner.restart()
    return runner


@pytest.fixture
async def holding(runner: BotRunner) -> BotRunner:
    """#general holds flagged results; #imagine is the moderator log channel."""
    return await _configure(runner, {"default": {"nsfw": "hold"}})


def _is_held(message: Message) -> bool:
    return "held for a moderator" in message.content


async def _held(runner: BotRunner, prompt: str = "a lighthouse") -> tuple[Message, Message, int]:
    """/imagine in a hold channel: the placeholder there, the real grid in the log channel, and the job id."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": prompt})
    placeholder = await fake.wait_for_message(predicate=_is_held, after=mark, timeout=60)
    log_post = await fake.wait_for_message(fake.other_channel_id, lambda m: "Held for review" in m.content, after=mark)
    job_id = int(custom_ids(log_post)[0].split(":")[2])
    return placeholder, log_post, job_id


async def test_a_spoiler_channel_gets_spoiler_files(runner: BotRunner) -> None:
    """With nsfw = "spoiler" the flagged grid is posted as SPOILER_grid.png, with its buttons; scores are stored."""
    fake = runner.fake
    await _configure(runner, {"spoilers": {"channel_ids": [fake.channel_id], "nsfw": "spoiler"}})
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
    result = await wait_result(fake, mark)
    assert [a.filename for a in result.attachments] == ["SPOILER_grid.png"]
    job = await runner.bot.queue.get(int(custom_ids(result)[0].split(":")[2]))
    assert len(job.nsfw_scores) == 4 and all(0.0 <= s <= 1.0 for s in job.nsfw_scores)


async def test_a_hold_channel_gets_a_placeholder_and_the_moderators_the_grid(holding: BotRunner) -> None:
    """The channel sees a blurred placeholder without buttons; the log channel the real grid with Release/Delete."""
    placeholder, log_post, job_id = await _held(holding)
    assert [a.filename for a in placeholder.attachments] == ["held.png"] and custom_ids(placeholder) == []
    assert [a.filename for a in log_post.attachments] == ["grid.png"]
    assert custom_ids(log_post) == [f"safety:release:{job_id}", f"safety:delete:{job_id}"]
    assert not [m for m in holding.fake.channel_messages() if is_result(m)]


async def test_release_posts_the_real_grid_once_with_working_buttons(holding: BotRunner) -> None:
    """bob's Release posts the grid in #general with U/V buttons (which work), drops the placeholder, once."""
    fake = holding.fake
    placeholder, log_post, job_id = await _held(holding)
    refused = await fake.click(log_post.id, f"safety:release:{job_id}", user_id=fake.users[2])
    assert "Only moderators" in (await refused.wait_response(timeout=3)).content
    mark = fake.mark()
    await fake.click(log_post.id, f"safety:release:{job_id}", user_id=fake.users[1])
    released = await wait_result(fake, mark)
    assert [a.filename for a in released.attachments] == ["grid.png"] and f"imagine:u:{job_id}:1" in custom_ids(released)
    await until(lambda: "Released by" in fake.message(log_post.id).content)  # the last step of a release
    assert fake.message(placeholder.id) is None and custom_ids(fake.message(log_post.id)) == []
    assert await holding.bot.holds.store.decide_hold(job_id, fake.users[1], "released", guild_id=fake.guild_id,
                                                     user_id=fake.users[0]) is None
    assert (await holding.bot.queue.get(job_id)).result_message_id == released.id
    mark = fake.mark()
    click = await fake.click(released.id, f"imagine:v:{job_id}:2", user_id=fake.users[0])
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    await fake.wait_for_message(predicate=_is_held, after=mark, timeout=60)  # the variation is flagged and held too
    assert [m.id for m in fake.channel_messages() if is_result(m)] == [released.id]


async def test_delete_keeps_the_result_from_the_channel(holding: BotRunner) -> None:
    """Delete removes the grid from the log post; the placeholder stays; a later Release finds nothing to do."""
    fake = holding.fake
    placeholder, log_post, job_id = await _held(holding)
    await (await fake.click(log_post.id, f"safety:delete:{job_id}", user_id=fake.users[1])).wait_response(timeout=3)
    edited = fake.message(log_post.id)
    assert "Deleted by" in edited.content and edited.attachments == [] and custom_ids(edited) == []
    assert fake.message(placeholder.id) is not None
    assert not [m for m in fake.channel_messages() if is_result(m)]
    # The images are gone too, and the job says so (pruned), instead of waiting data.keep_days.
    await until_async(lambda: holding.bot.queue.get(job_id), lambda job: job.pruned_at is not None)
    assert not holding.bot.storage.job_folder(job_id).exists()


async def test_an_age_restricted_channel_uses_its_own_policy(holding: BotRunner) -> None:
    """In an age-restricted channel nsfw_channel_policy (default "allow") applies: the grid is posted as is."""
    fake = holding.fake
    await fake.set_age_restricted(fake.channel_id)
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
    result = await wait_result(fake, mark)
    assert [a.filename for a in result.attachments] == ["grid.png"]


async def test_a_redelivery_after_a_crash_never_posts_a_held_result(holding: BotRunner) -> None:
    """A delivery cut off after the placeholder went out finds the placeholder again instead of posting the grid."""
    fake = holding.fake
    placeholder, _, job_id = await _held(holding)
    await until_async(lambda: holding.bot.queue.get(job_id), lambda job: job.result_message_id == placeholder.id)
    await holding.stop()
    await forget_delivery(holding.config, job_id)
    await holding.start()
    await until_async(lambda: holding.bot.queue.get(job_id), lambda job: job.result_message_id == placeholder.id)
    assert [m.id for m in fake.channel_messages() if _is_held(m)] == [placeholder.id]
    assert not [m for m in fake.channel_messages() if is_result(m)]
    assert len([m for m in fake.channel_messages(fake.other_channel_id) if "Held for review" in m.content]) == 1


async def test_a_hold_channel_shows_progress_without_the_unscored_preview(holding: BotRunner) -> None:
    """Previews are not scored, so where flagged results are held the status message carries no preview image."""
    holding.config = replace(holding.config, generation=replace(holding.config.generation, steps=25))
    await holding.restart()
    fake = holding.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a slow sunrise"})
    status = await fake.wait_for_message(predicate=lambda m: "(job #" in m.content and not _is_held(m),
                                         after=mark, timeout=30)
    attachments: list[str] = []
    steps_seen = False

    async def watch() -> None:
        nonlocal steps_seen
        while (current := fake.message(status.id)) is not None:
            attachments.extend(a.filename for a in current.attachments)
            steps_seen |= "steps)" in current.content
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    placeholder = await fake.wait_for_message(predicate=_is_held, after=mark, timeout=300)
    await watcher
    job_id = int(placeholder.content.rsplit("#", 1)[1].split(")")[0])
    assert steps_seen and attachments == []
    assert (holding.config.outputs_dir / str(job_id) / "preview.jpg").exists()  # there was a preview to hide
