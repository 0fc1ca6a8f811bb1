"""A job's status message in its channel: its place in line while it waits, progress while it runs, and Cancel;
every write inside Discord's per-channel budget, however many jobs share the channel."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace

import pytest

from bot.config import ModerationSettings
from tests.bot.conftest import BotRunner, until

STATUS_LINE = re.compile(r"\(job #(\d+)\) - waiting: #(\d+) in line")


async def _without_worker(runner: BotRunner, **changes) -> None:
    """Restart with no embedded worker, so jobs wait (or run only where the test claims them)."""
    runner.config = replace(runner.config, worker=replace(runner.config.worker, embedded=False), **changes)
    await runner.restart()


def _places(runner: BotRunner) -> dict[int, int]:
    """Job id -> the place its status message shows, for every waiting job's message in #general."""
    places = {}
    for message in runner.fake.channel_messages():
        if (match := STATUS_LINE.search(message.content)) is not None:
            places[int(match[1])] = int(match[2])
    return places


async def _queue_three(runner: BotRunner) -> list[int]:
    ids = []
    for user in runner.fake.users:
        reply = await (await runner.fake.invoke_slash("imagine", {"prompt": f"a quiet harbour {user}"},
                                                      user_id=user)).wait_response(timeout=3)
        ids.append(int(re.search(r"job #(\d+)", reply.content)[1]))
    return ids


def _status_message(runner: BotRunner, job_id: int):
    return next(m for m in runner.fake.channel_messages() if f"(job #{job_id})" in m.content and m.components)


async def test_waiting_jobs_show_their_place_and_it_moves_when_one_leaves(runner: BotRunner) -> None:
    """Three waiting jobs read #1, #2, #3 in line; when the first is cancelled from its Cancel button, the others
    move up; a member who neither owns the job nor moderates is refused."""
    await _without_worker(runner)
    fake = runner.fake
    first, second, third = await _queue_three(runner)
    await until(lambda: _places(runner) == {first: 1, second: 2, third: 3}, timeout=20)
    status = _status_message(runner, first)
    assert [c["label"] for row in status.components for c in row["components"]] == ["Cancel"]
    refused = await fake.click(status.id, f"imagine:c:{first}:0", user_id=fake.users[2])
    assert "Only the member who asked" in (await refused.wait_response(timeout=3)).content
    click = await fake.click(status.id, f"imagine:c:{first}:0", user_id=fake.users[0])
    assert f"Job #{first} is cancelled" in (await click.wait_response(timeout=3)).content
    await until(lambda: _places(runner) == {second: 1, third: 2}, timeout=20)
    assert fake.message(status.id) is None
    assert (await runner.bot.queue.get(first)).status == "cancelled"


async def test_a_moderator_cancels_another_members_job_and_the_channel_is_told(runner: BotRunner) -> None:
    """A moderator's Cancel is audited and the job's channel reads "was cancelled" where its status was."""
    fake = runner.fake
    await _without_worker(runner, moderation=ModerationSettings(moderator_role_ids=(fake.moderator_role_id,)))
    _, _, carols = await _queue_three(runner)
    await until(lambda: carols in _places(runner), timeout=20)
    status = _status_message(runner, carols)
    click = await fake.click(status.id, f"imagine:c:{carols}:0", user_id=fake.users[1])  # bob moderates
    assert "is cancelled" in (await click.wait_response(timeout=3)).content
    await fake.wait_for_message(predicate=lambda m: m.content.endswith("was cancelled.")
                                and f"(job #{carols})" in m.content, timeout=20)
    await until(lambda: fake.message(status.id) is None)
    audit = await runner.bot.moderation.audit(fake.guild_id, limit=5)
    assert [(entry.action, entry.job_id) for entry in audit][:1] == [("cancel", carols)]


async def test_three_running_jobs_in_one_channel_stay_within_five_edits_per_five_seconds(
        runner: BotRunner, caplog: pytest.LogCaptureFixture) -> None:
    """Three jobs progressing at once in #general: no 429, never more than 5 edits in any 5 s, discord.py never has
    to hold an edit back for the channel's bucket, and each job's status message still shows its progress moving."""
    caplog.set_level(logging.DEBUG, logger="discord.http")
    await _without_worker(runner)
    fake, queue = runner.fake, runner.bot.queue
    fake.limit_edits(limit=5, window_s=5.0)
    await _queue_three(runner)
    claimed = [await queue.claim(f"test-worker-{n}") for n in range(3)]
    started = time.monotonic()
    step = 0
    while time.monotonic() - started < 8.0:  # what three workers' heartbeats report, a step every 0.2 s
        step += 1
        for job in claimed:
            await queue.heartbeat(job.id, job.claim_token, progress_step=step, progress_total=100)
        runner.bot.delivery.wakeup.set()
        await asyncio.sleep(0.2)
    assert fake.rate_limit_hits == []
    # discord.py waits out an exhausted bucket by itself, which would stall delivery: the bot must never get there.
    assert not [r for r in caplog.records if "has been exhausted" in r.getMessage()]
    edits = sorted(r.at for r in fake.requests if r.method == "PATCH" and "/messages/" in r.path
                   and r.path.startswith(f"/channels/{fake.channel_id}/"))
    assert edits, "no status message was edited"
    assert max(sum(1 for t in edits if start <= t < start + 5.0) for start in edits) <= 5
    for job in claimed:  # every job got its share: its message moved past the first steps
        text = _status_message(runner, job.id).content
        assert "generating" in text and int(re.search(r"\((\d+)/100 steps\)", text)[1]) > 5, text
