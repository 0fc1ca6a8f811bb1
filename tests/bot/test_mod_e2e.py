"""/mod end to end: the real bot and discord.py against the fake Discord, with no worker so jobs stay where they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.config import ModerationSettings, WorkerSettings
from tests.bot.conftest import BotRunner, bot_config, custom_ids, wait_result
from tests.fakediscord.messages import Message
from tests.fakediscord.openapi_check import check_requests, check_responses
from tests.fakediscord.server import FakeDiscord
from tests.fakediscord.state import MANAGE_GUILD

SUBCOMMANDS = {
    "mod ban": lambda member: {"user": member}, "mod unban": lambda member: {"user": member},
    "mod cancel": lambda member: {"job": 1}, "mod purge": lambda member: {"user": member},
    "mod queue": lambda member: {}, "mod audit": lambda member: {},
    "mod quota show": lambda member: {"user": member}, "mod quota reset": lambda member: {"user": member},
    "mod quota set": lambda member: {"user": member, "images_per_day": 1, "gpu_seconds_per_day": 1},
    "mod quota grant": lambda member: {"user": member, "images": 1, "gpu_seconds": 1},
}


class Clock:
    """The bot's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def mods(discord_at_fake: FakeDiscord, tmp_path: Path, tiny_model_dir: Path) -> AsyncIterator[BotRunner]:
    """The bot without a worker; bob's Moderator role is a moderator role; actions are logged in #imagine."""
    fake = discord_at_fake
    config = replace(bot_config(fake, tmp_path, tiny_model_dir), worker=WorkerSettings(embedded=False),
                     moderation=ModerationSettings(moderator_role_ids=(fake.moderator_role_id,),
                                                   log_channel_id=fake.other_channel_id))
    runner = BotRunner(fake, config, clock=Clock())
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
    assert check_requests(fake.requests) == []
    assert check_responses(fake.requests) == []


async def _say(fake: FakeDiscord, command: str, options: dict, user_id: int) -> str:
    """Run a slash command and return the text of its (ephemeral) answer."""
    inter = await fake.invoke_slash(command, options, user_id=user_id)
    reply = await inter.wait_response(timeout=5)
    if reply.content is None:  # deferred: the answer is the follow-up
        return (await fake.wait_for_message(inter.channel_id, lambda m: m.id == inter.original_id and m.content,
                                            include_ephemeral=True)).content
    return reply.content


async def _imagine(fake: FakeDiscord, user_id: int, prompt: str) -> int:
    text = await _say(fake, "imagine", {"prompt": prompt}, user_id)
    assert text.startswith("Queued as job #"), text
    return int(text.split("#")[1].split(":")[0])


async def _posted_result(runner: BotRunner, user_id: int) -> Message:
    """A finished grid with its buttons, posted by the bot's delivery (finished by hand: there is no worker)."""
    fake, queue = runner.fake, runner.bot.queue
    mark = fake.mark()
    job_id = await _imagine(fake, user_id, "a lighthouse")
    claimed = await queue.claim("test-hand")
    folder = runner.config.outputs_dir / str(job_id)
    folder.mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(folder / "grid.png")
    assert claimed.id == job_id and await queue.succeed(job_id, claimed.claim_token, str(folder), 1.0)
    runner.bot.delivery.wakeup.set()
    return await wait_result(fake, mark, timeout=10)


async def test_mod_is_refused_to_members_without_manage_server(mods: BotRunner) -> None:
    """Discord shows /mod to anyone a server allows, so every subcommand checks Manage Server or a moderator role."""
    fake = mods.fake
    carol = fake.users[2]
    (mod_command,) = [c for c in fake.commands if c["name"] == "mod"]
    assert mod_command["default_member_permissions"] == str(MANAGE_GUILD)  # the hint Discord gets
    for name, options in SUBCOMMANDS.items():
        text = await _say(fake, name, options(fake.users[1]), carol)
        assert text.startswith("Only moderators can use /mod"), (name, text)
    assert await mods.bot.moderation.active_ban(fake.guild_id, fake.users[1]) is None
    assert await mods.bot.moderation.audit(fake.guild_id) == []


async def test_manage_server_or_a_moderator_role_opens_mod(mods: BotRunner) -> None:
    """The owner, a member whose role grants Manage Server, and bob through the configured role may use /mod."""
    fake = mods.fake
    managers = await fake.add_role("Server managers", MANAGE_GUILD)
    dave = fake.add_member("dave", [managers])
    for user_id in (fake.users[0], fake.users[1], dave):
        assert (await _say(fake, "mod queue", {}, user_id)).startswith("**Queue**: 0 running, 0 waiting")


async def test_ban_refuses_commands_and_old_buttons_and_cancels_waiting_jobs(mods: BotRunner) -> None:
    """A ban works at once: queued jobs are cancelled (members are told), commands and old buttons are refused."""
    fake, bot = mods.fake, mods.bot
    alice, bob, carol = fake.users
    old_result = await _posted_result(mods, carol)
    waiting = [await _imagine(fake, carol, f"castle {i}") for i in range(2)]
    bystander = await _imagine(fake, bob, "a fox")
    mark = fake.mark()
    text = await _say(fake, "mod ban", {"user": carol, "reason": "flooding"}, alice)
    assert text == f"Banned <@{carol}> until unbanned. Cancelled waiting jobs: #{waiting[0]}, #{waiting[1]}."
    refused = await _say(fake, "imagine", {"prompt": "again"}, carol)
    assert refused.startswith("You are banned from using this bot on this server until a moderator lifts the ban")
    assert "flooding" in refused
    click = await fake.click(old_result.id, custom_ids(old_result)[0], user_id=carol)
    assert (await click.wait_response()).content.startswith("You are banned")
    assert [(await bot.queue.get(j)).status for j in waiting] == ["cancelled", "cancelled"]
    assert (await bot.queue.get(bystander)).status == "queued"
    assert (await bot.queue.counts())["queued"] == 1
    for job_id in waiting:  # delivery tells the member where they asked
        await fake.wait_for_message(fake.channel_id, lambda m, j=job_id: f"job #{j})" in m.content
                                    and "cancelled" in m.content, after=mark)
    logged = await fake.wait_for_message(fake.other_channel_id, lambda m: "banned" in m.content, after=mark)
    assert f"<@{alice}> banned <@{carol}>" in logged.content and "flooding" in logged.content


async def test_log_channel_posts_allow_no_mentions(mods: BotRunner) -> None:
    """The moderator log names members but pings nobody: every post sends allowed_mentions with nothing in it."""
    fake = mods.fake
    await _say(fake, "mod purge", {"user": fake.users[2]}, fake.users[0])
    await fake.wait_for_message(fake.other_channel_id, lambda m: "purged" in m.content)
    posts = [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{fake.other_channel_id}/messages"]
    assert posts and all(r.json["allowed_mentions"] == {"parse": []} for r in posts)


async def test_unban_lets_the_member_back(mods: BotRunner) -> None:
    """After /mod unban the member's next command is queued; unbanning someone not banned says so."""
    fake = mods.fake
    alice, carol = fake.users[0], fake.users[2]
    await _say(fake, "mod ban", {"user": carol, "duration": "1d"}, alice)
    assert (await _say(fake, "mod unban", {"user": carol}, alice)) == f"Lifted the ban on <@{carol}>."
    await _imagine(fake, carol, "welcome back")
    assert (await _say(fake, "mod unban", {"user": carol}, alice)) == f"<@{carol}> is not banned."


async def test_timed_ban_lifts_itself(mods: BotRunner) -> None:
    """A 2h ban refuses the member until two hours have passed on the bot's clock, and nobody has to lift it."""
    fake = mods.fake
    alice, carol = fake.users[0], fake.users[2]
    text = await _say(fake, "mod ban", {"user": carol, "duration": "2h"}, alice)
    end = int((mods.clock.now + timedelta(hours=2)).timestamp())
    assert text.startswith(f"Banned <@{carol}> until <t:{end}:f>")
    mods.clock.now += timedelta(hours=1, minutes=59)
    assert (await _say(fake, "imagine", {"prompt": "too soon"}, carol)).startswith(f"You are banned from using this "
                                                                                   f"bot on this server until <t:{end}")
    mods.clock.now += timedelta(minutes=1)
    await _imagine(fake, carol, "on time")


async def test_ban_refuses_bad_durations_and_protected_members(mods: BotRunner) -> None:
    """A duration that is not one, a bot, yourself or another moderator: refused with the reason, nobody banned."""
    fake = mods.fake
    alice, bob, carol = fake.users
    assert "is not a duration" in await _say(fake, "mod ban", {"user": carol, "duration": "soon"}, alice)
    assert "out of range" in await _say(fake, "mod ban", {"user": carol, "duration": "400d"}, alice)
    assert "not for yourself" in await _say(fake, "mod ban", {"user": alice}, alice)
    assert "not for bots" in await _say(fake, "mod ban", {"user": fake.bot_user_id}, alice)
    assert "is a moderator" in await _say(fake, "mod ban", {"user": bob}, alice)
    assert await mods.bot.moderation.audit(fake.guild_id) == []


async def test_queue_purge_and_audit_show_what_happened(mods: BotRunner) -> None:
    """/mod queue lists owners, positions and ages; /mod purge empties one member's line; /mod audit shows it."""
    fake, clock = mods.fake, mods.clock
    alice, bob, carol = fake.users
    carols = [await _imagine(fake, carol, f"tower {i}") for i in range(2)]
    clock.now += timedelta(minutes=5)
    bobs = await _imagine(fake, bob, "a boat")
    listing = (await _say(fake, "mod queue", {}, bob)).splitlines()
    assert listing[0] == "**Queue**: 0 running, 3 waiting"
    assert listing[1:] == [f"`#{carols[0]}` · waiting, position 1 · <@{carol}> · 5m old · tower 0",
                           f"`#{bobs}` · waiting, position 2 · <@{bob}> · 0s old · a boat",
                           f"`#{carols[1]}` · waiting, position 3 · <@{carol}> · 5m old · tower 1"]
    purged = await _say(fake, "mod purge", {"user": carol}, bob)
    assert purged == f"Cancelled 2 waiting job(s) of <@{carol}>: #{carols[0]}, #{carols[1]}."
    assert (await _say(fake, "mod queue", {}, bob)).splitlines()[1:] == [
        f"`#{bobs}` · waiting, position 1 · <@{bob}> · 0s old · a boat"]
    await _say(fake, "mod cancel", {"job": bobs}, alice)
    audit = (await _say(fake, "mod audit", {}, alice)).splitlines()
    assert audit[0] == "**Moderator actions**" and len(audit) == 3
    assert f"<@{alice}> cancelled a job of <@{bob}> · job #{bobs}" in audit[1]
    assert f"<@{bob}> purged the waiting jobs of <@{carol}> · cancelled #{carols[0]}, #{carols[1]}" in audit[2]
    only_carol = (await _say(fake, "mod audit", {"user": carol}, alice)).splitlines()
    assert len(only_carol) == 2 and "purged" in only_carol[1]


async def test_cancel_refuses_unknown_jobs(mods: BotRunner) -> None:
    """/mod cancel of a job that is not waiting or running here says so and records nothing."""
    fake = mods.fake
    text = await _say(fake, "mod cancel", {"job": 424242}, fake.users[0])
    assert text == "There is no waiting or running job #424242 on this server."
    assert await mods.bot.moderation.audit(fake.guild_id) == []


async def test_quota_set_by_a_moderator_binds_the_members_next_command(mods: BotRunner) -> None:
    """/mod quota set to 4 images a day: one grid fits, the next is refused; a grant lets it through; all audited."""
    fake = mods.fake
    alice, bob, carol = fake.users
    text = await _say(fake, "mod quota set", {"user": carol, "images_per_day": 4, "gpu_seconds_per_day": 900}, bob)
    assert text.startswith(f"Set. <@{carol}> (their own daily quota, set by a moderator)")
    assert "images: 0 of 4 used, 4 left" in text
    await _imagine(fake, carol, "first grid")
    refused = await _say(fake, "imagine", {"prompt": "second grid"}, carol)
    assert "you have 0 of 4 left" in refused and (await mods.bot.queue.counts())["queued"] == 1
    granted = await _say(fake, "mod quota grant", {"user": carol, "images": 4, "gpu_seconds": 0}, alice)
    assert "images: 4 of 8 used, 4 left" in granted
    await _imagine(fake, carol, "second grid")
    shown = await _say(fake, "mod quota show", {"user": carol}, bob)
    assert "images: 8 of 8 used, 0 left" in shown
    assert "0 of 8" not in await _say(fake, "mod quota show", {"user": alice}, bob)  # others keep their tier
    audit = (await _say(fake, "mod audit", {"user": carol}, alice)).splitlines()
    assert f"<@{alice}> granted extra quota to <@{carol}> · images 4 · gpu seconds 0" in audit[1]
    assert f"<@{bob}> set the daily quota of <@{carol}> · images per day 4 · gpu seconds per day 900" in audit[2]


async def test_quota_reset_forgives_today_and_restores_the_tier(mods: BotRunner) -> None:
    """/mod quota reset: the member's use today is forgiven and a moderator's override is dropped."""
    fake = mods.fake
    bob, carol = fake.users[1], fake.users[2]
    await _say(fake, "mod quota set", {"user": carol, "images_per_day": 4, "gpu_seconds_per_day": 900}, bob)
    await _imagine(fake, carol, "a grid")
    text = await _say(fake, "mod quota reset", {"user": carol}, bob)
    tier = mods.config.quotas.images_per_day
    assert text.startswith(f"Reset. <@{carol}>\n") and f"images: 0 of {tier} used, {tier} left" in text
    assert "quota_reset" in [e.action for e in await mods.bot.moderation.audit(fake.guild_id)]


async def test_quota_grant_of_nothing_is_refused(mods: BotRunner) -> None:
    """A grant of 0 and 0 is a mistake: refused, nothing recorded."""
    fake = mods.fake
    text = await _say(fake, "mod quota grant", {"user": fake.users[2], "images": 0, "gpu_seconds": 0}, fake.users[0])
    assert "changes nothing" in text and await mods.bot.moderation.audit(fake.guild_id) == []
