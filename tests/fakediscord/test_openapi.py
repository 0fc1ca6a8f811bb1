"""Every call discord.py made against the fake, and some of the fake's answers, checked against Discord's OpenAPI spec."""

import io

import aiohttp
import discord

from tests.fakediscord import openapi_check
from tests.fakediscord.sample_bot import SampleBot, grid_view
from tests.fakediscord.server import FakeDiscord


async def _exercise(bot: SampleBot, fake: FakeDiscord) -> None:
    """Slash, defer, follow-up, modal, click, send with file and view, edit, history, delete."""
    for name, options in (("imagine", {"prompt": "p"}), ("defer", {}), ("describe", {})):
        inter = await fake.invoke_slash(name, options)
        await inter.wait_response()
    await fake.submit_modal(inter, {"prompt-text": "t"})
    grid = await fake.wait_for_message(predicate=lambda m: bool(m.components))
    await (await fake.click(grid.id, grid.components[0]["components"][0]["custom_id"])).wait_response()
    await fake.wait_for_message(predicate=lambda m: m.content == "done thinking")
    await bot.interactions[0].edit_original_response(content="edited")
    channel = bot.get_channel(fake.channel_id)
    sent = await channel.send("x", file=discord.File(io.BytesIO(b"1"), "a.txt"), view=grid_view(3), nonce="n1")
    await sent.edit(content="y", attachments=[])
    _ = [m async for m in channel.history(limit=10)]
    await sent.delete()


async def test_discordpy_requests_match_the_spec(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Paths, methods, query parameters and JSON/multipart bodies of a whole session are all in the spec."""
    await _exercise(sample_bot, fake_discord)
    assert len(fake_discord.requests) > 10
    assert openapi_check.check_requests(fake_discord.requests) == []


async def test_fake_answers_to_discordpy_match_the_spec(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Every successful JSON answer the fake gave during a whole session validates against its response schema."""
    await _exercise(sample_bot, fake_discord)
    assert openapi_check.check_responses(fake_discord.requests) == []


async def test_checker_reports_unknown_paths_and_bad_bodies() -> None:
    """The checker is not vacuous: it flags a made-up route and a wrongly typed field."""
    assert openapi_check.check_request("GET", "/channels/1/nonsense", {}, None)
    problems = openapi_check.check_request("POST", "/channels/1/messages", {}, {"content": 5})
    assert problems and "content" in problems[0]


async def test_fake_responses_match_the_spec(api: aiohttp.ClientSession, fake_discord: FakeDiscord) -> None:
    """The fake's user, application, channel, message and command responses validate against the response schemas."""
    problems = []
    app = f"/applications/{fake_discord.application_id}"
    option = {"type": 3, "name": "prompt", "description": "What", "required": True}
    # discord.py sends unicode emoji with "id": null; Discord answers with just the name.
    emoji = {"name": "\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS}", "id": None, "animated": False}
    button = {"type": 2, "style": 1, "custom_id": "a", "emoji": emoji}
    calls = [
        ("PUT", f"{app}/commands", [{"name": "imagine", "description": "Draw", "options": [option]}]),
        ("GET", f"{app}/commands", None),
        ("GET", "/users/@me", None),
        ("GET", "/gateway/bot", None),
        ("GET", "/applications/@me", None),
        ("GET", f"/channels/{fake_discord.channel_id}", None),
        ("GET", f"/guilds/{fake_discord.guild_id}", None),
        ("POST", f"/channels/{fake_discord.channel_id}/messages", {"content": "hi", "components": [{"type": 1, "components": [button]}]}),
        ("GET", f"/channels/{fake_discord.channel_id}/messages", None),
    ]
    for method, path, body in calls:
        async with api.request(method, "/api/v10" + path, json=body) as response:
            problems += openapi_check.check_response(method, path, response.status, await response.json())
    assert problems == []
