"""Who may use a job from where (issue 7, item 2): private and age-restricted channels, through the fake Discord.

The fake sends the guild's channels with categories, permission overwrites and NSFW flags as Discord does, and
the bot judges from its cached guild (guilds intent) what the member can see.
"""

from __future__ import annotations

import pytest

from tests.bot.conftest import BotRunner, custom_ids, is_result
from tests.fakediscord.state import VIEW_CHANNEL, Overwrite


@pytest.fixture
async def channels(runner: BotRunner) -> dict[str, int]:
    """#staff (moderators only), #after-dark (age-restricted) and #lounge in a category; the bot restarts to see them."""
    world = runner.fake.world
    hidden = [Overwrite(world.guild_id, 0, deny=VIEW_CHANNEL),
              Overwrite(world.moderator_role_id, 0, allow=VIEW_CHANNEL),
              Overwrite(world.bot.id, 1, allow=VIEW_CHANNEL)]
    category = world.add_category("studio")
    made = {"staff": world.add_text_channel("staff", overwrites=hidden).id,
            "after-dark": world.add_text_channel("after-dark", nsfw=True).id,
            "lounge": world.add_text_channel("lounge", category_id=category.id).id}
    await runner.restart()
    return made


async def _job_in(runner: BotRunner, channel_id: int, user_id: int, prompt: str) -> int:
    mark = runner.fake.mark()
    await runner.fake.invoke_slash("imagine", {"prompt": prompt}, channel_id=channel_id, user_id=user_id)
    result = await runner.fake.wait_for_message(channel_id, predicate=is_result, timeout=60, after=mark)
    return int(custom_ids(result)[0].split(":")[2])


async def _reply(runner: BotRunner, command: str, options: dict, *, user_id: int, channel_id: int | None = None) -> str:
    inter = await runner.fake.invoke_slash(command, options, user_id=user_id, channel_id=channel_id)
    return (await inter.wait_response(timeout=5)).content or ""


async def test_a_job_from_a_private_channel_cant_be_pulled_into_a_public_one(runner: BotRunner,
                                                                             channels: dict[str, int]) -> None:
    """A member who can't see #staff can't vary or upscale its job from #general, and learns nothing of its prompt."""
    fake = runner.fake
    bob, carol = fake.users[1], fake.users[2]
    job = await _job_in(runner, channels["staff"], bob, "the secret staff prompt")
    for command in ("vary", "upscale"):
        text = await _reply(runner, command, {"job": str(job), "tile": 1}, user_id=carol)
        assert f"Job #{job} was made in a channel you can't use it from here" in text
        assert "secret" not in text and "staff" not in text
    assert "Queued as job #" in await _reply(runner, "vary", {"job": str(job), "tile": 2}, user_id=bob)


async def test_an_age_restricted_job_stays_in_age_restricted_channels(runner: BotRunner,
                                                                      channels: dict[str, int]) -> None:
    """A job made in an NSFW channel can't be varied from a normal channel, even by a member who sees both."""
    fake = runner.fake
    alice = fake.users[0]
    job = await _job_in(runner, channels["after-dark"], alice, "a moody portrait")
    text = await _reply(runner, "upscale", {"job": str(job), "tile": 1}, user_id=alice)
    assert "age-restricted channel" in text and "moody" not in text
    normal = await _job_in(runner, channels["lounge"], alice, "a bright meadow")
    text = await _reply(runner, "vary", {"job": str(normal), "tile": 1}, user_id=alice,
                        channel_id=channels["after-dark"])
    assert "Queued as job #" in text  # a normal job may go into an age-restricted channel


async def test_cancel_follows_the_same_rule(runner: BotRunner, channels: dict[str, int]) -> None:
    """/cancel from a channel that can't see the job's channel is refused before anything else is said."""
    fake = runner.fake
    bob, carol = fake.users[1], fake.users[2]
    job = await _job_in(runner, channels["staff"], bob, "done already")
    text = await _reply(runner, "cancel", {"job": job}, user_id=carol)
    assert f"Job #{job} was made in a channel you can't use it from here" in text
    assert await _reply(runner, "cancel", {"job": job}, user_id=bob) == f"Job #{job} has already finished (succeeded)."


def test_the_fake_sends_overwrites_categories_and_nsfw_as_discord_does(runner: BotRunner,
                                                                        channels: dict[str, int]) -> None:
    """The channel objects the fake sends carry the fields Discord's OpenAPI spec gives guild channels."""
    from tests.fakediscord.openapi_check import check_schema

    world = runner.fake.world
    for channel_id in channels.values():
        channel = world.channels[channel_id]
        assert check_schema("GuildChannelResponse", channel.payload()) == []
    category = world.channels[world.channels[channels["lounge"]].parent_id]
    assert category.type == 4 and check_schema("GuildChannelResponse", category.payload()) == []
    assert not world.channel_permissions(runner.fake.users[2], channels["staff"]) & VIEW_CHANNEL
    assert world.channel_permissions(runner.fake.users[1], channels["staff"]) & VIEW_CHANNEL


async def test_a_channel_profiles_tip_is_shown_under_results(runner: BotRunner, channels: dict[str, int],
                                                               configure) -> None:
    """Results in a channel whose category has a profile with a tip carry the tip; others don't."""
    from bot.config import parse_config

    category = runner.fake.world.channels[channels["lounge"]].parent_id
    profiles = parse_config({"profiles": {"newbies": {"category_ids": [category], "max_steps": 30,
                                                      "tip": "Tip: --ar 16:9 makes a wide image."}}}, {}).profiles
    configure(profiles=profiles)
    await runner.restart()
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a pond"}, channel_id=channels["lounge"])
    result = await fake.wait_for_message(channels["lounge"], predicate=is_result, timeout=60, after=mark)
    assert result.content.endswith("\n-# Tip: --ar 16:9 makes a wide image.")
    text = await _reply(runner, "imagine", {"prompt": "a pond --steps 40"}, user_id=fake.users[0],
                        channel_id=channels["lounge"])
    assert "This channel allows at most 30 steps; the job asks for 40." in text
