"""A ban against enqueues already under way, on both databases: no job of the banned member is left waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.admission import Origin
from bot.config import parse_config
from bot.submissions import Submissions
from db.engine import make_engine
from db.fairness import JOBS
from db.limits import Refused
from db.moderation import Moderation
from db.queue import Queue
from generation.requests import GenerationKind, GenerationRequest
from tests.db.conftest import FakeClock, db_url, postgres_server, sqlite_path  # noqa: F401

GUILD, MEMBER, MOD = 100, 5, 9


@pytest.fixture
async def queue(db_url: str) -> AsyncIterator[Queue]:  # noqa: F811
    """A queue on each database."""
    engine = make_engine(db_url)
    try:
        yield Queue(engine, clock=FakeClock())
    finally:
        await engine.dispose()


def _request(n: int) -> GenerationRequest:
    return GenerationRequest(kind=GenerationKind.txt2img, prompt=f"p{n}", seeds=(1, 2, 3, 4), width=64, height=64,
                             num_inference_steps=2, guidance_scale=7.0, sampler="default", model="some/model")


async def test_ban_racing_twenty_enqueues_leaves_none_waiting(queue: Queue) -> None:
    """Each job either commits before the ban (and the ban cancels it) or meets the ban at the door."""
    config = parse_config({"model": {"default": "some/model"},
                           "limits": {"max_queued_per_user": 50, "jobs_per_window": 50}}, {})
    submissions = Submissions(queue, config)
    moderation = Moderation(queue.engine, clock=queue.now)
    enqueues = [submissions.imagine(Origin(1000 + n, MEMBER, GUILD, 200), _request(n)) for n in range(20)]
    results = await asyncio.gather(*enqueues[:10], moderation.ban(GUILD, MEMBER, MOD, duration=None, reason=""),
                                   *enqueues[10:], return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, Refused)]
    assert unexpected == []
    outcome = results[10]
    async with queue.engine.connect() as conn:
        waiting = await conn.scalar(select(func.count()).where(JOBS.c.user_id == MEMBER, JOBS.c.status == "queued"))
        total = await conn.scalar(select(func.count()).where(JOBS.c.user_id == MEMBER))
    assert waiting == 0
    assert total == len(outcome.jobs)  # every job that got in was cancelled by the ban
