"""The product bot, composed as `python -m bot` composes it, running against the fake Discord and the tiny model."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from bot.__main__ import _open_queue, build_bot
from bot.client import ImagineBot
from bot.config import (
    Config,
    DiscordSettings,
    GenerationSettings,
    ModelSettings,
    QueueSettings,
    SafetySettings,
    WorkerSettings,
)
from db.engine import make_engine
from tests.fakediscord.fixtures import discord_at_fake, fake_discord  # noqa: F401
from tests.fakediscord.mentions import check_mentions
from tests.fakediscord.messages import Message
from tests.fakediscord.openapi_check import check_requests, check_responses
from tests.fakediscord.pointing import running
from tests.fakediscord.server import FakeDiscord

TILE = 64  # the tiny model's image side in these tests
GUILD_READY_TIMEOUT = 0.3  # seconds discord.py waits for more guilds after READY (its default is 2)


def bot_config(fake: FakeDiscord, tmp_path: Path, model_dir: Path) -> Config:
    """A config like an operator's, pointed at the fake, a temp database and the tiny model."""
    return Config(
        discord=DiscordSettings(token=fake.token, guild_ids=(fake.guild_id,), attachment_hosts=("127.0.0.1",),
                                api_base=fake.api_base, gateway_url=fake.gateway_url),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}",
        model=ModelSettings(default=str(model_dir), device="cpu"),
        generation=GenerationSettings(width=TILE, height=TILE, steps=2, max_side=256),
        queue=QueueSettings(lease_seconds=30, heartbeat_seconds=0.2, poll_seconds=0.05),
        worker=WorkerSettings(embedded=True, shutdown_grace_seconds=5),
        data_dir=tmp_path / "data",
        # Scoring costs ~0.25 s a tile on these CPUs; the safety tests turn it on (tests/bot/test_nsfw_policy_e2e.py).
        safety=SafetySettings(classifier="off"),
    )


class BotRunner:
    """Starts and stops the real bot (restart included) while the fake and the database live on."""

    def __init__(self, fake: FakeDiscord, config: Config, clock: Callable[[], datetime] | None = None) -> None:
        self.fake, self.config = fake, config
        self.clock = clock  # the queue's clock (None: real time); set before start() to travel in time
        self.bot: ImagineBot | None = None
        self._ctx = None
        self._engine = None

    async def start(self) -> ImagineBot:
        """Compose and connect the bot, then wait until its commands are synced."""
        self._engine, queue = await _open_queue(self.config, self.clock)
        # The fake sends its one GUILD_CREATE right after READY: discord.py's 2 s wait for more would be most of
        # each start's time (hundreds of starts in the suite).
        self.bot = build_bot(self.config, queue, guild_ready_timeout=GUILD_READY_TIMEOUT)
        self._ctx = running(self.bot, self.fake, timeout=30)
        await self._ctx.__aenter__()
        await self.fake.wait_until_ready()
        return self.bot

    async def stop(self) -> None:
        """Close the bot as SIGTERM would (delivery and worker stop first), then its database engine."""
        if self._ctx is not None:
            await self._ctx.__aexit__(None, None, None)
            self._ctx = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def restart(self) -> ImagineBot:
        """Stop, then start a brand-new bot object: nothing survives in memory."""
        await self.stop()
        return await self.start()


@pytest.fixture(autouse=True)
def no_mass_mentions(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that talks to the fake: no message the bot sent could ping @everyone, @here or a role."""
    fake = request.getfixturevalue("discord_at_fake") if "discord_at_fake" in request.fixturenames else None
    yield
    if fake is not None:
        assert check_mentions(fake.requests) == []


@pytest.fixture
async def runner(discord_at_fake: FakeDiscord, tmp_path: Path, tiny_model_dir: Path) -> AsyncIterator[BotRunner]:  # noqa: F811
    """The bot running against the fake, stopped after the test."""
    bot_runner = BotRunner(discord_at_fake, bot_config(discord_at_fake, tmp_path, tiny_model_dir))
    await bot_runner.start()
    try:
        yield bot_runner
    finally:
        await bot_runner.stop()
    # Every request the bot made, and every answer the fake gave, must match Discord's published OpenAPI spec.
    assert check_requests(discord_at_fake.requests) == []
    assert check_responses(discord_at_fake.requests) == []


@pytest.fixture
def configure(runner: BotRunner) -> Callable[..., Config]:
    """Change settings for the next restart (e.g. configure(generation=...))."""
    def change(**changes: object) -> Config:
        runner.config = replace(runner.config, **changes)
        return runner.config
    return change


def custom_ids(message: Message) -> list[str]:
    """Every button custom_id on a stored message, in order."""
    return [c["custom_id"] for row in message.components for c in row.get("components", []) if "custom_id" in c]


def is_result(message: Message) -> bool:
    """A result message: an image attachment and an Info button (status messages carry only Cancel)."""
    return bool(message.attachments) and any(cid.startswith("imagine:i:") for cid in custom_ids(message))


def image_of(message: Message) -> Image.Image:
    """The first attachment of a message, decoded."""
    return Image.open(io.BytesIO(message.attachments[0].data))


async def wait_result(fake: FakeDiscord, after: int, timeout: float = 60.0, **kw) -> Message:
    """The next result message posted after the `after` mark."""
    return await fake.wait_for_message(predicate=lambda m: is_result(m) and kw.get("where", lambda _: True)(m),
                                       timeout=timeout, after=after)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition that a background task makes true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def recorded_job(runner: BotRunner, message: Message) -> int:
    """The job id of a posted result, once the bot has recorded the message as the job's result."""
    job_id = int(custom_ids(message)[0].split(":")[2])
    async with asyncio.timeout(10):  # the message exists a moment before the bot records its id
        while (await runner.bot.queue.get(job_id)).result_message_id != message.id:
            await asyncio.sleep(0.02)
    return job_id


async def forget_delivery(config: Config, job_id: int) -> None:
    """What a kill -9 right after channel.send leaves behind: the attempt counted, the message id not recorded."""
    engine = make_engine(config.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE jobs SET delivered_at = NULL, result_message_id = NULL WHERE id = :id"), {"id": job_id})
    finally:
        await engine.dispose()
