"""Clicking buttons: DynamicItem callbacks, before and after a restart, and UPDATE_MESSAGE."""

import discord
import pytest

from tests.fakediscord.pointing import running
from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


async def _grid(fake: FakeDiscord) -> int:
    inter = await fake.invoke_slash("imagine", {"prompt": "a fox"})
    await inter.wait_response()
    grid = await fake.wait_for_message(fake.channel_id, lambda m: bool(m.components))
    return grid.id


async def test_click_reaches_the_dynamic_item(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """A click carries the full message, so discord.py routes it to the DynamicItem's callback."""
    grid_id = await _grid(fake_discord)
    custom_id = fake_discord.message(grid_id).components[1]["components"][2]["custom_id"]
    click = await fake_discord.click(grid_id, custom_id, user_id=fake_discord.users[2])
    reply = await click.wait_response(timeout=3)
    action, job, tile = custom_id.split(":")[1:]
    assert reply.content == f"{action} {job} {tile}" and reply.ephemeral
    assert sample_bot.clicks == [(action, int(job), int(tile), fake_discord.users[2])]


async def test_click_after_restart_reaches_a_fresh_client(discord_at_fake: FakeDiscord) -> None:
    """Buttons posted by one client still work when a new client process has taken over."""
    async with running(SampleBot(), discord_at_fake):
        await discord_at_fake.wait_until_ready()
        grid_id = await _grid(discord_at_fake)
    custom_id = discord_at_fake.message(grid_id).components[0]["components"][0]["custom_id"]
    async with running(SampleBot(), discord_at_fake) as fresh:
        await discord_at_fake.wait_until_ready()
        click = await discord_at_fake.click(grid_id, custom_id)
        assert (await click.wait_response()).content.startswith("upscale ")
        assert len(fresh.clicks) == 1


async def test_update_message_edits_the_clicked_message(discord_at_fake: FakeDiscord) -> None:
    """Answering a click with edit_message (type 7) changes the message and its components."""
    bot = SampleBot()

    @bot.listen("on_interaction")
    async def disable_all(interaction: discord.Interaction) -> None:
        if interaction.data.get("custom_id") == "freeze":
            await interaction.response.edit_message(content="frozen", view=None)

    async with running(bot, discord_at_fake):
        await discord_at_fake.wait_until_ready()
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Freeze", custom_id="freeze"))
        sent = await bot.get_channel(discord_at_fake.channel_id).send("live", view=view)
        click = await discord_at_fake.click(sent.id, "freeze")
        assert (await click.wait_response()).type == 7
    stored = discord_at_fake.message(sent.id)
    assert (stored.content, stored.components) == ("frozen", [])


async def test_clicking_a_missing_button_is_refused(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """A user cannot click a custom_id that is not on the message."""
    grid_id = await _grid(fake_discord)
    with pytest.raises(LookupError, match="no component"):
        await fake_discord.click(grid_id, "imagine:upscale:1:9")


async def test_deferred_update_then_edit_changes_the_clicked_message(discord_at_fake: FakeDiscord) -> None:
    """defer() on a click (type 6) then edit_original_response edits the message that was clicked."""
    bot = SampleBot()

    @bot.listen("on_interaction")
    async def progress(interaction: discord.Interaction) -> None:
        if interaction.data.get("custom_id") == "render":
            await interaction.response.defer()
            await interaction.edit_original_response(content="rendering 50%")

    async with running(bot, discord_at_fake):
        await discord_at_fake.wait_until_ready()
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Render", custom_id="render"))
        sent = await bot.get_channel(discord_at_fake.channel_id).send("idle", view=view)
        click = await discord_at_fake.click(sent.id, "render")
        assert (await click.wait_response()).type == 6
        edited = await discord_at_fake.wait_for_message(predicate=lambda m: m.content == "rendering 50%")
    assert edited.id == sent.id and click.original.id == sent.id
