"""Point an unmodified discord.py at a FakeDiscord, and run a client against it for the length of a block."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import discord
import yarl

from tests.fakediscord.server import FakeDiscord


@contextmanager
def point_discord_at(fake: FakeDiscord) -> Iterator[None]:
    """Send discord.py's REST calls (Route.BASE, webhooks included) and gateway connects to the fake; restore after."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@asynccontextmanager
async def running(client: discord.Client, fake: FakeDiscord, timeout: float = 10.0, *,
                  wait_for_ready: bool = True) -> AsyncIterator[discord.Client]:
    """Start `client` with the fake's token and close it cleanly on exit.

    Waits for discord.py's READY (which takes the client's guild_ready_timeout, 2 s by default), or with
    wait_for_ready=False only until the fake has seen this client IDENTIFY; interactions work from then on.
    """
    identified_before = fake.gateway.identify_count
    task = asyncio.create_task(client.start(fake.token), name="fake-discord client")
    failed = False
    try:
        async with asyncio.timeout(timeout):
            # client.wait_until_ready() cannot be awaited before login, so poll instead.
            while not (client.is_ready() if wait_for_ready else fake.gateway.identify_count > identified_before):
                if task.done():
                    task.result()
                    raise RuntimeError("the client stopped before it became ready")
                await asyncio.sleep(0.01)
        yield client
    except BaseException:
        failed = True
        raise
    finally:
        await client.close()
        try:
            await task
        except Exception:
            # The block's own failure is the interesting one; a client crash is reported only on its own.
            if not failed:
                raise
