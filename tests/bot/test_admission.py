"""The door: every job goes through bot/admission.py, whose checks hold under concurrency on both databases."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.admission import Origin
from bot.config import Config, parse_config
from bot.errors import render
from bot.submissions import Submissions
from db.engine import make_engine
from db.limits import LimitReached, Refused
from db.queue import Queue
from generation.requests import GenerationKind, GenerationRequest
from tests.db.conftest import FakeClock, db_url, postgres_server, sqlite_path  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _request(prompt: str = "a lighthouse", model: str = "some/model", steps: int = 20) -> GenerationRequest:
    return GenerationRequest(kind=GenerationKind.txt2img, prompt=prompt, seeds=(1, 2, 3, 4), width=64, height=64,
                             num_inference_steps=steps, guidance_scale=7.0, sampler="default", model=model)


def _config(**tables: dict) -> Config:
    return parse_config({"model": {"default": "some/model"}} | tables, {})


@pytest.fixture
async def queue(db_url: str) -> AsyncIterator[Queue]:  # noqa: F811
    """A queue on each database."""
    engine = make_engine(db_url)
    try:
        yield Queue(engine, clock=FakeClock())
    finally:
        await engine.dispose()


def _origin(n: int, user_id: int = 5, channel_id: int = 200) -> Origin:
    return Origin(interaction_id=1000 + n, user_id=user_id, guild_id=100, channel_id=channel_id)


async def test_twenty_concurrent_imagines_queue_exactly_the_cap(queue: Queue) -> None:
    """20 concurrent /imagine from one member with max_queued_per_user = 3 and no worker: exactly 3 are queued."""
    submissions = Submissions(queue, _config(limits={"max_queued_per_user": 3}))
    results = await asyncio.gather(*(submissions.imagine(_origin(n), _request(f"p{n}")) for n in range(20)),
                                   return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(admitted) == 3 and len(refused) == 17, [r for r in results if isinstance(r, Exception)][:3]
    assert sum((await queue.counts()).values()) == 3


async def test_the_profile_refuses_before_anything_is_written(queue: Queue) -> None:
    """A command the channel's profile doesn't allow is refused with a reason; no job row is written."""
    config = _config(profiles={"newbies": {"channel_ids": [200], "commands": ["vary"], "max_steps": 10}})
    submissions = Submissions(queue, config)
    with pytest.raises(Refused, match="/imagine isn't available in this channel"):
        await submissions.imagine(_origin(1), _request())
    assert sum((await queue.counts()).values()) == 0


async def test_a_job_asking_for_too_many_steps_is_refused_in_a_capped_channel(queue: Queue) -> None:
    """max_steps of the channel's profile caps --steps; the reason names both numbers."""
    submissions = Submissions(queue, _config(profiles={"newbies": {"channel_ids": [200], "max_steps": 10}}))
    with pytest.raises(Refused, match="at most 10 steps; the job asks for 20"):
        await submissions.imagine(_origin(1), _request(steps=20))
    assert (await submissions.imagine(_origin(2, channel_id=201), _request(steps=20))).created


async def test_a_model_the_config_no_longer_names_is_refused(queue: Queue) -> None:
    """A child of a job whose model was removed from the config is refused, not loaded."""
    submissions = Submissions(queue, _config())
    with pytest.raises(Refused, match="no longer offered"):
        await submissions.imagine(_origin(1), _request(model="removed/model"))


async def test_the_channel_allowlist_is_a_door_step(queue: Queue) -> None:
    """discord.channel_ids is checked in the door, with the allowed channels named."""
    submissions = Submissions(queue, replace(_config(), discord=replace(_config().discord, channel_ids=(300,))))
    with pytest.raises(Refused, match="only in <#300>"):
        await submissions.imagine(_origin(1), _request())


def test_a_refusal_with_a_time_renders_a_discord_timestamp() -> None:
    """Refused.frees_at becomes <t:UNIX:R>, which every member sees in their own time zone."""
    from datetime import UTC, datetime

    text = render(LimitReached("You queued 10 jobs.", datetime(2026, 1, 1, 12, 10, tzinfo=UTC)))
    assert text == "You queued 10 jobs. It frees up <t:1767269400:R>."


def test_nothing_but_the_door_enqueues() -> None:
    """Only bot/admission.py calls Queue.enqueue: no other path can write a job around the checks."""
    callers = [path.relative_to(ROOT).as_posix() for path in (ROOT / "bot").rglob("*.py")
               if re.search(r"queue\.enqueue\(", path.read_text(encoding="utf-8"))]
    assert callers == ["bot/admission.py"]


async def test_a_banned_member_is_refused_at_the_door(queue: Queue) -> None:
    """Step 1 runs inside the enqueue's transaction: a ban stops the job even if the command was already running."""
    from db.moderation import Moderation

    await Moderation(queue.engine, clock=queue.now).ban(100, 5, 9, duration=None, reason="spam")
    submissions = Submissions(queue, _config())
    with pytest.raises(Refused, match="You are banned from using this bot on this server"):
        await submissions.imagine(_origin(1), _request())
    assert sum((await queue.counts()).values()) == 0
