"""Rate-limit headers and the opt-in per-channel edit limit."""

import time

import aiohttp

from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


async def test_responses_carry_rate_limit_headers(api: aiohttp.ClientSession) -> None:
    """Every API response has X-RateLimit-* headers with room to spare."""
    async with api.get("/api/v10/users/@me") as response:
        assert int(response.headers["X-RateLimit-Remaining"]) > 0
        assert {"X-RateLimit-Limit", "X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Bucket"} <= set(response.headers)


async def test_discordpy_waits_out_the_edit_limit(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """With 3 edits per second allowed, the 4th edit is delayed by discord.py itself, not refused."""
    fake_discord.limit_edits(limit=3, window_s=1.0)
    sent = await sample_bot.get_channel(fake_discord.channel_id).send("0")
    started = time.monotonic()
    for n in range(1, 5):
        await sent.edit(content=str(n))
    assert time.monotonic() - started >= 0.8
    assert fake_discord.message(sent.id).content == "4" and fake_discord.rate_limit_hits == []


async def test_edit_over_the_limit_is_429_with_retry_after(api: aiohttp.ClientSession, fake_discord: FakeDiscord) -> None:
    """A client that ignores the headers gets 429 with retry_after and the Via header discord.py checks."""
    fake_discord.limit_edits(limit=1, window_s=5.0)
    base = f"/api/v10/channels/{fake_discord.channel_id}/messages"
    async with api.post(base, json={"content": "a"}) as response:
        message_id = (await response.json())["id"]
    statuses = []
    for content in ("b", "c"):
        async with api.patch(f"{base}/{message_id}", json={"content": content}) as response:
            statuses.append(response.status)
            body = await response.json()
    assert statuses == [200, 429] and 0 < body["retry_after"] <= 5 and response.headers["Via"]
    fake_discord.advance_clock(5)
    async with api.patch(f"{base}/{message_id}", json={"content": "d"}) as response:
        assert response.status == 200
