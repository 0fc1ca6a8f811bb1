"""Slash commands, callbacks, follow-ups, modals and the interaction deadlines."""

import asyncio

import discord
import pytest

from tests.fakediscord.pointing import running
from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


async def test_slash_command_gets_an_ephemeral_reply_within_3_seconds(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """/imagine reaches the command and its ephemeral CHANNEL_MESSAGE_WITH_SOURCE comes back quickly."""
    inter = await fake_discord.invoke_slash("imagine", {"prompt": "a lighthouse"}, user_id=fake_discord.users[2])
    reply = await inter.wait_response(timeout=3)
    assert (reply.type, reply.content, reply.ephemeral) == (4, "queued: a lighthouse", True)
    assert reply.elapsed_s < 3
    assert inter.original is not None and inter.original.ephemeral


async def test_ephemeral_reply_is_not_in_channel_history(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Only the invoking user sees an ephemeral reply, so it is not part of the channel."""
    inter = await fake_discord.invoke_slash("imagine", {"prompt": "x"})
    await inter.wait_response()
    await fake_discord.wait_for_message(fake_discord.channel_id, lambda m: m.attachments)
    assert inter.original_id not in {m.id for m in fake_discord.channel_messages()}
    assert inter.original_id in {m.id for m in fake_discord.channel_messages(include_ephemeral=True)}


async def test_deferred_reply_is_replaced_by_the_first_followup(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """defer(thinking=True) posts a loading message; the first follow-up turns it into the answer."""
    inter = await fake_discord.invoke_slash("defer")
    assert (await inter.wait_response()).type == 5
    done = await fake_discord.wait_for_message(predicate=lambda m: m.content == "done thinking")
    assert done.id == inter.original_id and not done.flags & 128
    assert inter.followups == []


async def test_attachment_option_is_resolved_and_downloadable(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """An ATTACHMENT option arrives in resolved.attachments with a URL the bot can download from."""
    inter = await fake_discord.invoke_slash("echo-file", attachments={"image": ("seed.png", b"\x89PNG1234", "image/png")})
    reply = await inter.wait_response()
    assert reply.content == "seed.png 8 b'\\x89PNG'"
    assert list(inter.payload["data"]["resolved"]["attachments"].values())[0]["url"].startswith(fake_discord.base_url)


async def test_callback_after_3_seconds_is_unknown_interaction(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Discord forgets an interaction not acknowledged within 3 s: 404 Unknown interaction (10062)."""
    inter = await fake_discord.invoke_slash("slow")
    fake_discord.advance_clock(3.5)
    sample_bot.gate.set()
    async with asyncio.timeout(5):
        while not sample_bot.errors:
            await asyncio.sleep(0.01)
    assert inter.callback is None
    assert isinstance(sample_bot.errors[0], discord.NotFound) and sample_bot.errors[0].code == 10062


async def test_interaction_token_expires_after_15_minutes(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Editing the original response with a 15-minute-old token is 401 Invalid Webhook Token (50027)."""
    inter = await fake_discord.invoke_slash("defer")
    await fake_discord.wait_for_message(predicate=lambda m: m.content == "done thinking")
    interaction = sample_bot.interactions[0]
    await interaction.edit_original_response(content="still fresh")
    fake_discord.advance_clock(15 * 60 + 1)
    try:
        await interaction.edit_original_response(content="too late")
    except discord.HTTPException as error:
        assert (error.status, error.code) == (401, 50027)
    else:
        raise AssertionError("an expired interaction token was accepted")
    assert inter.original.content == "still fresh"


async def test_second_callback_is_already_acknowledged(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Answering twice is 400 Interaction has already been acknowledged (40060)."""
    inter = await fake_discord.invoke_slash("defer")
    await inter.wait_response()
    interaction = sample_bot.interactions[0]
    interaction.response._response_type = None  # make discord.py forget it answered, so the fake sees the retry
    try:
        await interaction.response.send_message("again")
    except discord.HTTPException as error:
        assert (error.status, error.code) == (400, 40060)
    else:
        raise AssertionError("a second callback was accepted")


async def test_modal_submission_reaches_the_modal(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """A MODAL callback can be filled in and submitted; the modal's on_submit answers."""
    opened = await fake_discord.invoke_slash("describe")
    assert (await opened.wait_response()).type == 9
    submitted = await fake_discord.submit_modal(opened, {"prompt-text": "a red fox"})
    assert (await submitted.wait_response()).content == "modal: a red fox"


async def test_unknown_command_name_is_refused_by_the_test_api(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """invoke_slash only runs commands the bot registered, with the options they declare."""
    for name, options in (("nope", {}), ("imagine", {"prompt": "x", "seed": 1}), ("imagine", {})):
        try:
            await fake_discord.invoke_slash(name, options)
        except (LookupError, ValueError):
            continue
        raise AssertionError(f"{name} {options} was dispatched")


async def test_reply_with_a_file_keeps_its_bytes(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """A multipart callback stores the file on the original response, with Discord's file-name cleanup."""
    inter = await fake_discord.invoke_slash("snap")
    reply = await inter.wait_response()
    assert reply.content == "snap" and reply.files == [("snap one.png", "image/png", b"PIXELS")]
    attachment = inter.original.attachments[0]
    assert (attachment.filename, attachment.data) == ("snap_one.png", b"PIXELS")


async def test_option_limits_and_contexts_are_enforced_like_the_client(discord_at_fake: FakeDiscord) -> None:
    """Range limits and guild_only are checked by Discord's client, so the test API refuses to break them."""
    client = discord.Client(intents=discord.Intents.default())
    tree = discord.app_commands.CommandTree(client)

    @tree.command(description="Pick a tile")
    @discord.app_commands.guild_only()
    async def pick(interaction: discord.Interaction, tile: discord.app_commands.Range[int, 1, 4]) -> None:
        await interaction.response.send_message(f"tile {tile}")

    client.setup_hook = tree.sync
    async with running(client, discord_at_fake, wait_for_ready=False):
        await discord_at_fake.wait_until_ready()
        with pytest.raises(ValueError, match="outside"):
            await discord_at_fake.invoke_slash("pick", {"tile": 5})
        with pytest.raises(ValueError, match="context"):
            dm = discord_at_fake.dm_channel_id(discord_at_fake.users[0])
            await discord_at_fake.invoke_slash("pick", {"tile": 2}, channel_id=dm)
        inter = await discord_at_fake.invoke_slash("pick", {"tile": 4})
        assert (await inter.wait_response()).content == "tile 4"
