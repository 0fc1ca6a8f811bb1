"""profiles.<name>.buttons end to end: who may click U/V/re-roll on another member's grid, and who owns the child."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.config_tables import DEFAULT_MODEL_NAME, parse_profiles
from tests.bot.conftest import BotRunner, custom_ids, wait_result


async def _alices_grid(runner: BotRunner) -> tuple[object, int]:
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a red boat"}, user_id=fake.users[0])
    grid = await wait_result(fake, mark)
    return grid, int(custom_ids(grid)[0].split(":")[2])


async def test_by_default_anyone_may_click_and_owns_the_child(runner: BotRunner) -> None:
    """buttons = "everyone": another member's V click queues a job that is theirs, not the grid owner's."""
    fake = runner.fake
    grid, job_id = await _alices_grid(runner)
    click = await fake.click(grid.id, f"imagine:v:{job_id}:1", user_id=fake.users[2])
    reply = (await click.wait_response(timeout=3)).content
    child = await runner.bot.queue.get(int(re.search(r"job #(\d+)", reply)[1]))
    assert (child.user_id, child.parent_job_id) == (fake.users[2], job_id)


async def test_an_owner_only_channel_refuses_other_members_clicks(runner: BotRunner) -> None:
    """buttons = "owner": another member's U, V and re-roll are refused privately; the owner's still queue."""
    runner.config = replace(runner.config, profiles=parse_profiles({"default": {"buttons": "owner"}},
                                                                   {DEFAULT_MODEL_NAME}))
    await runner.restart()
    fake = runner.fake
    grid, job_id = await _alices_grid(runner)
    before = sum((await runner.bot.queue.counts()).values())
    for action, tile in (("v", 1), ("u", 2), ("r", 0)):
        click = await fake.click(grid.id, f"imagine:{action}:{job_id}:{tile}", user_id=fake.users[2])
        reply = await click.wait_response(timeout=3)
        assert reply.ephemeral and "only the member who made" in reply.content, reply.content
    assert sum((await runner.bot.queue.counts()).values()) == before
    mine = await fake.click(grid.id, f"imagine:v:{job_id}:1", user_id=fake.users[0])
    assert "Queued as job #" in (await mine.wait_response(timeout=3)).content
