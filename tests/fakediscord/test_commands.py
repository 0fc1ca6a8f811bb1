"""Application command registration (CommandTree.sync) as the fake stores it."""

import aiohttp
import discord

from tests.fakediscord.pointing import running
from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


async def test_sync_stores_the_commands_with_their_options(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """tree.sync() is a bulk overwrite; the fake keeps names, descriptions and typed options."""
    by_name = {c["name"]: c for c in fake_discord.commands}
    assert set(by_name) == {"imagine", "slow", "defer", "echo-file", "snap", "describe"}
    assert by_name["imagine"]["options"] == [{"type": 3, "name": "prompt", "description": "What to draw", "required": True}]
    assert by_name["echo-file"]["options"][0]["type"] == 11


async def test_resync_keeps_command_ids(discord_at_fake: FakeDiscord) -> None:
    """Syncing the same commands again (a restart) keeps their ids, as Discord does."""
    async with running(SampleBot(), discord_at_fake):
        await discord_at_fake.wait_until_ready()
        first = {c["name"]: c["id"] for c in discord_at_fake.commands}
    async with running(SampleBot(), discord_at_fake):
        await discord_at_fake.wait_until_ready()
        assert {c["name"]: c["id"] for c in discord_at_fake.commands} == first
    assert discord_at_fake.command_registry.sync_count == 2


async def test_invalid_command_name_is_rejected(api: aiohttp.ClientSession, fake_discord: FakeDiscord) -> None:
    """Upper-case or spaced names are 400 Invalid Form Body, indexed by the command's position."""
    path = f"/api/v10/applications/{fake_discord.application_id}/commands"
    async with api.put(path, json=[{"name": "Bad Name", "description": "x"}]) as response:
        body = await response.json()
    assert response.status == 400 and body["code"] == 50035 and "name" in body["errors"]["0"]
    assert fake_discord.commands == []


async def test_guild_command_is_invoked_with_its_guild_id(discord_at_fake: FakeDiscord) -> None:
    """A command synced to the guild is stored under it and invoked with data.guild_id."""
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    tree = discord.app_commands.CommandTree(client)
    guild = discord.Object(discord_at_fake.guild_id)

    @tree.command(description="Only here", guild=guild)
    async def local(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("local ok")

    client.setup_hook = lambda: tree.sync(guild=guild)
    async with running(client, discord_at_fake):
        await discord_at_fake.wait_until_ready()
        inter = await discord_at_fake.invoke_slash("local")
        assert (await inter.wait_response()).content == "local ok"
    assert discord_at_fake.commands[0]["guild_id"] == str(discord_at_fake.guild_id)
    assert inter.payload["data"]["guild_id"] == str(discord_at_fake.guild_id)


async def test_slash_command_in_a_dm(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Invoked in a DM, the interaction carries `user` instead of `member` and the reply lands in the DM."""
    dm = fake_discord.dm_channel_id(fake_discord.users[1])
    inter = await fake_discord.invoke_slash("imagine", {"prompt": "dm"}, user_id=fake_discord.users[1], channel_id=dm)
    assert (await inter.wait_response()).content == "queued: dm"
    assert "member" not in inter.payload and inter.payload["user"]["id"] == str(fake_discord.users[1])
    grid = await fake_discord.wait_for_message(dm, lambda m: bool(m.attachments))
    assert grid.guild_id is None
