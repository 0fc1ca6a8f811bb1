"""/settings end to end: shown privately, stored, applied to the next /imagine and V click; flags win."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.bot.conftest import BotRunner, custom_ids, wait_result


async def _job_of(reply_text: str) -> int:
    return int(re.search(r"job #(\d+)", reply_text)[1])


async def test_settings_without_options_shows_them(runner: BotRunner) -> None:
    """/settings alone lists the defaults; after a change it lists the new values."""
    fake = runner.fake
    shown = await (await fake.invoke_slash("settings", {})).wait_response(timeout=3)
    assert shown.ephemeral and "aspect: default" in shown.content and "remix: off" in shown.content
    saved = await (await fake.invoke_slash("settings", {"aspect": "16:9", "remix": True})).wait_response(timeout=3)
    assert "Saved" in saved.content
    shown = await (await fake.invoke_slash("settings", {})).wait_response(timeout=3)
    assert "aspect: 16:9" in shown.content and "remix: on" in shown.content


async def test_bad_settings_are_refused_and_nothing_changes(runner: BotRunner) -> None:
    """An aspect or a suffix that a prompt could not carry gets a private message naming it; nothing is saved."""
    fake = runner.fake
    reply = await (await fake.invoke_slash("settings", {"aspect": "9:1"})).wait_response(timeout=3)
    assert reply.ephemeral and "9:1" in reply.content
    reply = await (await fake.invoke_slash("settings", {"suffix": "oil --bogus 2"})).wait_response(timeout=3)
    assert "--bogus" in reply.content
    shown = await (await fake.invoke_slash("settings", {})).wait_response(timeout=3)
    assert "aspect: default" in shown.content and "suffix: none" in shown.content


async def test_settings_apply_to_the_next_imagine_and_flags_override(runner: BotRunner) -> None:
    """Aspect and suffix shape the next /imagine; the prompt's own --ar and --steps beat them."""
    runner.config = replace(runner.config, generation=replace(runner.config.generation, width=128, height=64))
    await runner.restart()
    fake, queue = runner.fake, runner.bot.queue
    await (await fake.invoke_slash("settings", {"aspect": "1:2", "suffix": "watercolor --steps 1"})).wait_response(3)
    reply = await (await fake.invoke_slash("imagine", {"prompt": "a cat"})).wait_response(timeout=3)
    job = await queue.get(await _job_of(reply.content))
    assert (job.prompt, job.params["width"], job.params["height"], job.params["num_inference_steps"]) == (
        "a cat watercolor", 64, 128, 1)
    reply = await (await fake.invoke_slash("imagine", {"prompt": "a dog --ar 2:1 --steps 2"})).wait_response(3)
    job = await queue.get(await _job_of(reply.content))
    assert (job.prompt, job.params["width"], job.params["height"], job.params["num_inference_steps"]) == (
        "a dog watercolor", 128, 64, 2)


async def test_variation_setting_applies_to_v_buttons_and_vary_strength_overrides(runner: BotRunner) -> None:
    """With variation strong, V1 makes strong variations; /vary strength:subtle still makes subtle ones."""
    fake, queue, g = runner.fake, runner.bot.queue, runner.config.generation
    await (await fake.invoke_slash("settings", {"variation": "strong"})).wait_response(timeout=3)
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a pear --seed 3"})
    grid = await wait_result(fake, mark)
    job_id = int(custom_ids(grid)[0].split(":")[2])
    click = await fake.click(grid.id, f"imagine:v:{job_id}:1")
    child = await queue.get(await _job_of((await click.wait_response(timeout=3)).content))
    assert child.params["variation_strength"] == pytest.approx(g.variation_strong)
    reply = await fake.invoke_slash("vary", {"job": str(job_id), "tile": 2, "strength": "subtle"})
    child = await queue.get(await _job_of((await reply.wait_response(timeout=3)).content))
    assert child.params["variation_strength"] == pytest.approx(g.variation_subtle)
    # Another member's click follows their own settings (none: subtle).
    click = await fake.click(grid.id, f"imagine:v:{job_id}:3", user_id=fake.users[2])
    child = await queue.get(await _job_of((await click.wait_response(timeout=3)).content))
    assert child.params["variation_strength"] == pytest.approx(g.variation_subtle)


async def test_dm_results_sends_the_finished_result_by_direct_message_too(runner: BotRunner) -> None:
    """With dm_results on, the grid is posted in the channel and a copy with a link reaches the member's DMs."""
    fake = runner.fake
    member = fake.users[2]
    await (await fake.invoke_slash("settings", {"dm_results": True}, user_id=member)).wait_response(timeout=3)
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a kite"}, user_id=member)
    posted = await wait_result(fake, mark)
    copy = await fake.wait_for_message(fake.dm_channel_id(member), lambda m: bool(m.attachments), timeout=10)
    assert str(posted.id) in copy.content and copy.attachments[0].data == posted.attachments[0].data
