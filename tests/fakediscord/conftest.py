"""Fixtures for the fake Discord's own tests."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakediscord.fixtures import discord_at_fake, fake_discord  # noqa: F401
from tests.fakediscord.pointing import running
from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


@pytest.fixture
async def sample_bot(discord_at_fake: FakeDiscord) -> AsyncIterator[SampleBot]:  # noqa: F811
    """The tiny sample bot, connected to the fake and ready, closed after the test."""
    async with running(SampleBot(), discord_at_fake) as bot:
        await discord_at_fake.wait_until_ready()
        yield bot


@pytest.fixture
async def api(fake_discord: FakeDiscord) -> AsyncIterator[aiohttp.ClientSession]:  # noqa: F811
    """A raw HTTP session to the fake, authenticated as the bot (paths start with /api/v10)."""
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    async with aiohttp.ClientSession(base_url=fake_discord.base_url, headers=headers) as session:
        yield session
