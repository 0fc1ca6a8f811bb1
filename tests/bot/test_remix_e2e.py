"""Remix end to end: V and re-roll open an edit box (a MODAL callback), and its submission queues the edit."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.config import ModerationSettings
from tests.bot.conftest import BotRunner, custom_ids, wait_result
from tests.fakediscord.interactions import MODAL


def _text_input(callback_data: dict) -> dict:
    """The one text input of a modal, whether in an action row or a label."""
    for top in callback_data["components"]:
        for component in [top["component"]] if "component" in top else top["components"]:
            if component["type"] == 4:
                return component
    raise AssertionError(f"no text input in {callback_data}")


async def _remix_grid(runner: BotRunner, prompt: str = "a lighthouse --seed 5 --no fog"):
    fake = runner.fake
    await (await fake.invoke_slash("settings", {"remix": True})).wait_response(timeout=3)
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": prompt})
    grid = await wait_result(fake, mark)
    return grid, int(custom_ids(grid)[0].split(":")[2])


async def _job_of(reply_text: str) -> int:
    return int(re.search(r"job #(\d+)", reply_text)[1])


async def test_remix_v_opens_the_prompt_and_queues_the_edited_variation(runner: BotRunner) -> None:
    """V2 answers with a modal prefilled with the prompt and flags; the edited prompt becomes V2's variations."""
    fake = runner.fake
    grid, job_id = await _remix_grid(runner)
    click = await fake.click(grid.id, f"imagine:v:{job_id}:2")
    opened = await click.wait_response(timeout=3)
    assert opened.type == MODAL
    text = _text_input(opened.data)
    assert text["value"].startswith("a lighthouse ") and "--no fog" in text["value"]
    mark = fake.mark()
    submitted = await fake.submit_modal(click, {text["custom_id"]: "a lighthouse at night --no fog, rain"})
    reply = await submitted.wait_response(timeout=3)
    assert reply.ephemeral and "Queued as job #" in reply.content
    child = await runner.bot.queue.get(await _job_of(reply.content))
    assert (child.kind, child.parent_job_id, child.parent_tile) == ("variation", job_id, 2)
    assert (child.prompt, child.negative_prompt, child.params["seeds"]) == ("a lighthouse at night", "fog, rain",
                                                                         [6, 6, 6, 6])
    posted = await wait_result(fake, mark)
    assert "a lighthouse at night" in posted.content


async def test_remix_reroll_queues_the_edited_prompt_with_new_seeds(runner: BotRunner) -> None:
    """Re-roll's edit box may change flags too; the child is a re-roll of its parent with the edited settings."""
    fake = runner.fake
    grid, job_id = await _remix_grid(runner)
    click = await fake.click(grid.id, f"imagine:r:{job_id}:0")
    opened = await click.wait_response(timeout=3)
    text = _text_input(opened.data)
    assert "--seed" not in text["value"]
    submitted = await fake.submit_modal(click, {text["custom_id"]: "a lighthouse, storm --steps 1"})
    child = await runner.bot.queue.get(await _job_of((await submitted.wait_response(timeout=3)).content))
    assert (child.kind, child.parent_job_id, child.prompt) == ("reroll", job_id, "a lighthouse, storm")
    assert child.params["num_inference_steps"] == 1 and child.params["negative_prompt"] == ""


async def test_remix_input_is_checked_like_a_prompt(runner: BotRunner) -> None:
    """An unknown flag, or a size change in a variation, is refused privately and queues nothing."""
    fake = runner.fake
    grid, job_id = await _remix_grid(runner)
    before = sum((await runner.bot.queue.counts()).values())
    for edit, needle in (("a lighthouse --bogus 1", "--bogus"), ("a lighthouse --ar 2:1", "--ar")):
        click = await fake.click(grid.id, f"imagine:v:{job_id}:1")
        text = _text_input((await click.wait_response(timeout=3)).data)
        submitted = await fake.submit_modal(click, {text["custom_id"]: edit})
        reply = await submitted.wait_response(timeout=3)
        assert reply.ephemeral and needle in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == before


async def test_an_edit_box_opened_before_a_restart_still_queues(runner: BotRunner) -> None:
    """The modal's state is in its custom_id: submitted to a freshly started bot, it still queues its job."""
    fake = runner.fake
    grid, job_id = await _remix_grid(runner)
    click = await fake.click(grid.id, f"imagine:v:{job_id}:4")
    text = _text_input((await click.wait_response(timeout=3)).data)
    await runner.restart()
    submitted = await fake.submit_modal(click, {text["custom_id"]: "a lighthouse, after the restart"})
    child = await runner.bot.queue.get(await _job_of((await submitted.wait_response(timeout=3)).content))
    assert (child.parent_job_id, child.parent_tile, child.prompt) == (job_id, 4, "a lighthouse, after the restart")


async def test_a_remix_edit_passes_the_servers_prompt_filter(runner: BotRunner) -> None:
    """An edit with a banned word is refused like a blocked /imagine prompt, and nothing is queued."""
    runner.config = replace(runner.config, moderation=ModerationSettings(banned_words=("gore",)))
    await runner.restart()
    fake = runner.fake
    grid, job_id = await _remix_grid(runner)
    before = sum((await runner.bot.queue.counts()).values())
    click = await fake.click(grid.id, f"imagine:r:{job_id}:0")
    text = _text_input((await click.wait_response(timeout=3)).data)
    reply = await (await fake.submit_modal(click, {text["custom_id"]: "a lighthouse, g0re"})).wait_response(3)
    assert reply.ephemeral and "blocked" in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == before
