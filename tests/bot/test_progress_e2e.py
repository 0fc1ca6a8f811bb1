"""The live status message: progress and a preview while a job runs, within Discord's edit limits, then gone."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.bot.conftest import BotRunner, is_result, until, wait_result


async def test_status_message_shows_progress_then_gives_way_to_the_result(runner: BotRunner) -> None:
    """A long job gets a status message edited with step counts and a preview JPEG, deleted when the grid posts."""
    runner.config = replace(runner.config, generation=replace(runner.config.generation, steps=100))
    await runner.restart()
    fake = runner.fake
    fake.limit_edits(limit=5, window_s=5.0)  # Discord's per-channel edit budget; the bot must stay inside it
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a slow sunrise"})
    status = await fake.wait_for_message(predicate=lambda m: "(job #" in m.content and not is_result(m),
                                         after=mark, timeout=30)
    seen: list[str] = []
    previews = 0

    async def watch() -> None:
        nonlocal previews
        while True:
            current = fake.message(status.id)
            if current is None:
                return
            if current.content not in seen:
                seen.append(current.content)
            previews += any(a.filename == "preview.jpg" for a in current.attachments)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    result = await wait_result(fake, mark, timeout=300)
    await until(lambda: fake.message(status.id) is None)
    await watcher
    assert any("steps)" in text for text in seen), seen
    assert previews > 0
    assert result.id > status.id
    assert fake.rate_limit_hits == []


async def test_cancel_stops_a_running_job_and_says_so(runner: BotRunner) -> None:
    """/cancel on a running job stops it at the next step; the channel reads "was cancelled", no grid follows."""
    runner.config = replace(runner.config, generation=replace(runner.config.generation, steps=100))
    await runner.restart()
    fake = runner.fake
    mark = fake.mark()
    inter = await fake.invoke_slash("imagine", {"prompt": "a long night"})
    job_id = int((await inter.wait_response(timeout=3)).content.split("#")[1].split(":")[0])
    await until(lambda: any("steps)" in m.content for m in fake.channel_messages()), timeout=120)
    other = await fake.invoke_slash("cancel", {"job": job_id}, user_id=fake.users[1])
    assert "Only the member who asked" in (await other.wait_response(timeout=3)).content
    mine = await fake.invoke_slash("cancel", {"job": job_id})
    assert "being stopped" in (await mine.wait_response(timeout=3)).content
    try:
        notice = await fake.wait_for_message(predicate=lambda m: m.content.endswith("was cancelled."), after=mark,
                                             timeout=60)
    except TimeoutError:
        pytest.fail(f"no cancel notice; the job is {await runner.bot.queue.get(job_id)}; worker task: "
                    f"{runner.bot.supervisor.tasks}")
    assert f"(job #{job_id})" in notice.content
    assert (await runner.bot.queue.get(job_id)).status == "cancelled"
    assert not [m for m in fake.channel_messages() if is_result(m)]
