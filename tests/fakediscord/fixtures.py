"""Pytest fixtures for any test that runs discord.py against the fake; import them into a conftest.py.

    # tests/bot/conftest.py
    from tests.fakediscord.fixtures import discord_at_fake, fake_discord  # noqa: F401
"""

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakediscord.pointing import point_discord_at
from tests.fakediscord.server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord, stopped after the test."""
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def discord_at_fake(fake_discord: FakeDiscord) -> Iterator[FakeDiscord]:
    """The same fake, with discord.py's REST base and gateway URL pointed at it for the test."""
    with point_discord_at(fake_discord):
        yield fake_discord
