"""Limits and quotas as members meet them: /quota, /info and refusals, through the fake Discord."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from bot.config import Config, LimitSettings, QuotaSettings, WorkerSettings
from tests.bot.conftest import BotRunner, custom_ids, wait_result


async def _reply(runner: BotRunner, command: str, options: dict | None = None, **kw: object) -> str:
    inter = await runner.fake.invoke_slash(command, options or {}, **kw)
    return (await inter.wait_response(timeout=5)).content or ""


async def test_quota_shows_a_finished_jobs_images_and_measured_gpu_time(runner: BotRunner) -> None:
    """After one grid, /quota shows 4 images used and the GPU seconds the worker measured (not the estimate)."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
    result = await wait_result(fake, mark)
    job = await runner.bot.queue.get(int(custom_ids(result)[0].split(":")[2]))
    assert job is not None and job.gpu_seconds is not None
    text = await _reply(runner, "quota")
    assert "- images: 4 of 200 used, 196 left" in text
    assert f"- GPU time: {job.gpu_seconds:.0f} of 900 seconds used" in text
    assert re.search(r"resets <t:\d+:R>", text)
    admission = runner.bot.submissions.admission
    usage = await admission.usage(fake.users[0], ())
    assert usage.used.gpu_seconds == pytest.approx(job.gpu_seconds)


async def test_info_lists_waiting_jobs_with_positions_and_the_quota(runner: BotRunner,
                                                                    configure: Callable[..., Config]) -> None:
    """/info shows the member's waiting jobs in line and the same quota figures as /quota."""
    configure(worker=WorkerSettings(embedded=False))
    await runner.restart()
    fake = runner.fake
    await _reply(runner, "imagine", {"prompt": "one"}, user_id=fake.users[2])
    await _reply(runner, "imagine", {"prompt": "two"}, user_id=fake.users[0])
    await _reply(runner, "imagine", {"prompt": "three"}, user_id=fake.users[2])
    text = await _reply(runner, "info", user_id=fake.users[2])
    lines = [line for line in text.splitlines() if line.startswith("- #")]
    assert len(lines) == 2 and "waiting: position 1" in lines[0] and "waiting: position 3" in lines[1]
    assert "- images: 8 of 200 used, 192 left" in text
    quota = await _reply(runner, "quota", user_id=fake.users[2])
    assert quota in text
    assert "You have no jobs waiting or running." in await _reply(runner, "info", user_id=fake.users[1])


async def test_a_member_past_their_quota_is_refused_with_the_reset_time(runner: BotRunner,
                                                                          configure: Callable[..., Config]) -> None:
    """With images_per_day = 4 the second grid is refused, saying what is left and when it resets."""
    configure(quotas=QuotaSettings(images_per_day=4), worker=WorkerSettings(embedded=False))
    await runner.restart()
    assert "Queued as job #" in await _reply(runner, "imagine", {"prompt": "first"})
    text = await _reply(runner, "imagine", {"prompt": "second"})
    assert "needs 4 image(s) of your daily quota and you have 0 of 4 left" in text
    assert re.search(r"It frees up <t:\d+:R>\.$", text)
    assert sum((await runner.bot.queue.counts()).values()) == 1


async def test_the_limit_refusal_names_the_limit(runner: BotRunner, configure: Callable[..., Config]) -> None:
    """max_queued_per_user = 1: the second command is refused naming the limit; nothing more is queued."""
    configure(limits=replace(LimitSettings(), max_queued_per_user=1), worker=WorkerSettings(embedded=False))
    await runner.restart()
    await _reply(runner, "imagine", {"prompt": "first"})
    text = await _reply(runner, "imagine", {"prompt": "second"})
    assert text.startswith("You already have 1 jobs waiting (the limit is 1)")
    assert sum((await runner.bot.queue.counts()).values()) == 1
