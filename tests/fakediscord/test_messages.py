"""Channel messages: files, components, nonces, limits, edits and history."""

import asyncio
import io

import aiohttp
import discord

from tests.fakediscord.sample_bot import SampleBot, grid_view
from tests.fakediscord.server import FakeDiscord

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_file_and_dynamic_buttons_are_stored(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """channel.send with a file and a View stores the bytes, the content type and every custom_id."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    sent = await channel.send("grid", file=discord.File(io.BytesIO(PNG), "grid.png"), view=grid_view(42))
    stored = fake_discord.message(sent.id)
    attachment = stored.attachments[0]
    assert (attachment.filename, attachment.content_type, attachment.data) == ("grid.png", "image/png", PNG)
    custom_ids = [item["custom_id"] for row in stored.components for item in row["components"]]
    assert custom_ids[:2] == ["imagine:upscale:42:1", "imagine:upscale:42:2"] and len(custom_ids) == 8
    assert sent.attachments[0].url == attachment.url


async def test_attachment_url_serves_the_bytes(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """The attachment URL Discord returns downloads the uploaded bytes (Attachment.read works)."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    sent = await channel.send(file=discord.File(io.BytesIO(b"hello"), "note.txt"))
    assert await sent.attachments[0].read() == b"hello"


async def test_repeated_nonce_returns_the_first_message(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """With enforce_nonce, sending the same nonce again returns the existing message."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    first = await channel.send("once", nonce="job-7-grid")
    second = await channel.send("once", nonce="job-7-grid")
    assert first.id == second.id and fake_discord.message_count(fake_discord.channel_id) == 1


async def test_nonce_is_forgotten_after_a_few_minutes(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Nonces are only unique within a window; later the same nonce makes a new message."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    first = await channel.send("once", nonce="job-8")
    fake_discord.advance_clock(10 * 60)
    second = await channel.send("once", nonce="job-8")
    assert first.id != second.id


async def test_content_over_2000_characters_is_invalid_form_body(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Content longer than 2000 characters is 400 Invalid Form Body (50035) naming the field."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    try:
        await channel.send("x" * 2001)
    except discord.HTTPException as error:
        assert (error.status, error.code) == (400, 50035) and "content" in error.text
    else:
        raise AssertionError("2001 characters were accepted")


async def test_oversized_file_is_413(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """A file over the 10 MiB limit is 413 Request entity too large (40005)."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    try:
        await channel.send(file=discord.File(io.BytesIO(b"\0" * (10 * 1024 * 1024 + 1)), "big.bin"))
    except discord.HTTPException as error:
        assert (error.status, error.code) == (413, 40005)
    else:
        raise AssertionError("an oversized file was accepted")


async def test_edit_replaces_attachments(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Message.edit(attachments=[new file]) swaps the files and sets edited_timestamp."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    sent = await channel.send(file=discord.File(io.BytesIO(b"old"), "a.txt"))
    await sent.edit(content="v2", attachments=[discord.File(io.BytesIO(b"new"), "b.txt")])
    stored = fake_discord.message(sent.id)
    assert [a.data for a in stored.attachments] == [b"new"] and stored.content == "v2"
    assert stored.edited_at is not None


async def test_history_pages_newest_first(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """channel.history walks the stored messages newest first across pages."""
    channel = sample_bot.get_channel(fake_discord.other_channel_id)
    for n in range(5):
        await channel.send(f"m{n}")
    contents = [m.content async for m in channel.history(limit=5)]
    assert contents == ["m4", "m3", "m2", "m1", "m0"]
    oldest_first = [m.content async for m in channel.history(limit=None, oldest_first=True)]
    assert oldest_first == ["m0", "m1", "m2", "m3", "m4"]


async def test_deleted_message_is_gone(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Message.delete removes it from the channel; fetching it is 404 Unknown Message (10008)."""
    channel = sample_bot.get_channel(fake_discord.channel_id)
    sent = await channel.send("bye")
    await sent.delete()
    assert fake_discord.message_count() == 0
    try:
        await channel.fetch_message(sent.id)
    except discord.NotFound as error:
        assert error.code == 10008
    else:
        raise AssertionError("a deleted message was fetched")


async def test_six_buttons_in_a_row_are_rejected(api: aiohttp.ClientSession, fake_discord: FakeDiscord) -> None:
    """More than five components in an action row is Invalid Form Body at that row."""
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": str(i), "custom_id": f"b{i}"} for i in range(6)]}
    async with api.post(f"/api/v10/channels/{fake_discord.channel_id}/messages", json={"components": [row]}) as response:
        body = await response.json()
    assert response.status == 400 and body["code"] == 50035
    assert "_errors" in body["errors"]["components"]["0"]["components"]


async def test_unknown_route_is_discord_404(api: aiohttp.ClientSession) -> None:
    """An unknown path answers 404 with Discord's JSON error shape and exact content type."""
    async with api.get("/api/v10/no/such/route") as response:
        assert response.status == 404 and response.headers["Content-Type"] == "application/json"
        assert await response.json() == {"message": "404: Not Found", "code": 0}


async def test_missing_token_is_401(fake_discord: FakeDiscord) -> None:
    """A request without the bot token is 401 Unauthorized."""
    async with aiohttp.ClientSession() as session:
        async with session.get(fake_discord.api_base + "/users/@me") as response:
            assert response.status == 401
            assert await response.json() == {"message": "401: Unauthorized", "code": 0}


async def test_user_message_reaches_the_bot(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """post_user_message dispatches MESSAGE_CREATE, without content since the bot lacks MESSAGE_CONTENT."""
    received = asyncio.ensure_future(sample_bot.wait_for("message", timeout=5))
    await fake_discord.post_user_message("hi bot", user_id=fake_discord.users[1])
    message = await received
    assert message.author.id == fake_discord.users[1] and message.content == ""
