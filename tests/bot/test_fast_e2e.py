"""Fast (few-step) jobs end to end: --fast, Enhance, V/U on fast grids, TAESD previews, through the fake Discord."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from bot.config import FastModelSettings
from generation.metadata import parse_infotext
from tests.bot.conftest import TILE, BotRunner, custom_ids, image_of, is_result, recorded_job, wait_result


@pytest.fixture
async def fast_runner(runner: BotRunner, tiny_lora_dir: Path, tiny_taesd_dir: Path) -> BotRunner:
    """The bot with a fast model (the tiny model + its LCM-style LoRA, 2 LCM steps, TAESD decode) behind --fast."""
    config = runner.config
    runner.config = replace(
        config, model=replace(config.model, fast="draft", preview_vae=str(tiny_taesd_dir)),
        fast_models={"draft": FastModelSettings(model=config.model.default, lora=str(tiny_lora_dir), scheduler="lcm",
                                                steps=2, decoder="preview_vae")})
    await runner.restart()
    return runner


async def _fast_grid(runner: BotRunner, prompt: str = "a harbour at night --fast --seed 500"):
    mark = runner.fake.mark()
    inter = await runner.fake.invoke_slash("imagine", {"prompt": prompt})
    assert "Queued as job #" in (await inter.wait_response(timeout=3)).content
    message = await wait_result(runner.fake, mark)
    job_id = await recorded_job(runner, message)
    return message, job_id


async def test_fast_grid_uses_the_fast_model_and_carries_enhance_buttons(fast_runner: BotRunner) -> None:
    """--fast posts a grid made in 2 LCM steps without guidance, with the LoRA and TAESD, and Enhance 1-4."""
    message, job_id = await _fast_grid(fast_runner)
    info = parse_infotext(image_of(message).info["parameters"])
    assert (info.num_inference_steps, info.sampler, info.guidance_scale, info.seed) == (2, "LCM", 0.0, 500)
    assert info.extra["Fused LoRA"] == fast_runner.config.fast_models["draft"].lora
    assert info.extra["VAE"] == fast_runner.config.model.preview_vae
    enhance_row = [c for c in message.components[2]["components"]]
    assert [c["custom_id"] for c in enhance_row] == [f"imagine:e:{job_id}:{tile}" for tile in range(1, 5)]
    assert [c["label"] for c in enhance_row] == ["Enhance 1", "Enhance 2", "Enhance 3", "Enhance 4"]


async def test_enhance_rerenders_one_tile_with_the_full_model_from_its_seed(fast_runner: BotRunner) -> None:
    """Enhance 2 posts one image from seed S+1 by the full model at the server's steps, guidance and sampler."""
    fake = fast_runner.fake
    message, job_id = await _fast_grid(fast_runner)
    mark = fake.mark()
    click = await fake.click(message.id, f"imagine:e:{job_id}:2")
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    enhanced = await wait_result(fake, mark)
    assert f"enhancement of #{job_id}, tile 2" in enhanced.content
    assert image_of(enhanced).size == (TILE, TILE)
    info = parse_infotext(image_of(enhanced).info["parameters"])
    g = fast_runner.config.generation
    assert (info.seed, info.num_inference_steps, info.guidance_scale) == (501, g.steps, g.guidance_scale)
    assert info.model == fast_runner.config.model.default and "Fused LoRA" not in info.extra
    child_id = int(custom_ids(enhanced)[0].split(":")[2])
    assert custom_ids(enhanced)[:3] == [f"imagine:v:{child_id}:1", f"imagine:vs:{child_id}:1",
                                        f"imagine:u:{child_id}:1"]


async def test_variations_and_upscales_of_a_fast_grid_stay_fast(fast_runner: BotRunner) -> None:
    """V1 on a fast grid gives a fast grid (with Enhance buttons); U1 refines with the fast model."""
    fake = fast_runner.fake
    message, job_id = await _fast_grid(fast_runner)
    mark = fake.mark()
    await fake.click(message.id, f"imagine:v:{job_id}:1")
    varied = await wait_result(fake, mark)
    info = parse_infotext(image_of(varied).info["parameters"])
    assert (info.seed, info.sampler, info.guidance_scale) == (500, "LCM", 0.0) and info.variation_seed is not None
    assert any(c.startswith("imagine:e:") for c in custom_ids(varied))
    mark = fake.mark()
    await fake.click(message.id, f"imagine:u:{job_id}:1")
    upscaled = await wait_result(fake, mark)
    assert image_of(upscaled).size == (2 * TILE, 2 * TILE)
    assert "Fused LoRA" in parse_infotext(image_of(upscaled).info["parameters"]).extra


async def test_enhance_after_the_fast_model_is_removed_is_refused(fast_runner: BotRunner) -> None:
    """Once the operator removes the fast model, its old grids' Enhance buttons answer privately, queue nothing."""
    runner = fast_runner
    message, job_id = await _fast_grid(runner)
    runner.config = replace(runner.config, model=replace(runner.config.model, fast=""), fast_models={})
    await runner.restart()
    before = sum((await runner.bot.queue.counts()).values())
    click = await runner.fake.click(message.id, f"imagine:e:{job_id}:1")
    assert "not a fast grid" in (await click.wait_response(timeout=3)).content
    assert sum((await runner.bot.queue.counts()).values()) == before


async def test_a_fast_model_picked_by_name_is_fast(fast_runner: BotRunner) -> None:
    """/imagine model:<fast model name> runs that fast model, without --fast."""
    mark = fast_runner.fake.mark()
    await fast_runner.fake.invoke_slash("imagine", {"prompt": "a kite", "model": "draft"})
    info = parse_infotext(image_of(await wait_result(fast_runner.fake, mark)).info["parameters"])
    assert (info.sampler, info.num_inference_steps) == ("LCM", 2)


async def test_fast_without_a_fast_model_is_refused(runner: BotRunner) -> None:
    """On a server with no fast model, --fast gets a clear private message and nothing is queued."""
    inter = await runner.fake.invoke_slash("imagine", {"prompt": "a fox --fast"})
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "--fast is not available" in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == 0


async def test_taesd_previews_are_full_size_true_colour(fast_runner: BotRunner) -> None:
    """With model.preview_vae, the status message's preview is a full-size TAESD decode of the grid."""
    runner = fast_runner
    runner.config = replace(runner.config, generation=replace(runner.config.generation, steps=30))
    await runner.restart()
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a slow tide"})
    sizes: list[tuple[int, int]] = []

    async def watch() -> None:
        while True:
            for m in fake.channel_messages():
                if m.id > mark and not is_result(m):
                    sizes.extend(Image.open(io.BytesIO(a.data)).size for a in m.attachments
                                 if a.filename == "preview.jpg")
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    await wait_result(fake, mark, timeout=300)
    watcher.cancel()
    assert sizes and set(sizes) == {(2 * TILE, 2 * TILE)}  # the linear projection's previews are half size


async def test_info_on_a_fast_grid_gives_a_fast_line(fast_runner: BotRunner) -> None:
    """Info's /imagine line for a fast grid says --fast (not the fast model's steps), and run again it makes the
    same request."""
    import re

    fake = fast_runner.fake
    message, job_id = await _fast_grid(fast_runner, "a lighthouse --fast --seed 77 --ar 2:1")
    click = await fake.click(message.id, f"imagine:i:{job_id}:0")
    reply = await click.wait_response(timeout=3)
    line = re.search(r"```\n(/imagine prompt: .*)\n```", reply.content)[1]
    assert "--fast" in line and "--steps" not in line and "--sampler" not in line and "model:" not in line
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": line.removeprefix("/imagine prompt: ")})
    again = await wait_result(fake, mark)
    again_id = int(custom_ids(again)[0].split(":")[2])
    first, second = await fast_runner.bot.queue.get(job_id), await fast_runner.bot.queue.get(again_id)
    assert second.params == first.params


async def test_remix_of_a_fast_grid_stays_fast_unless_fast_is_taken_out(fast_runner: BotRunner) -> None:
    """The edit box says --fast (not the fast model's steps); V and re-roll with it stay fast; a V without it is
    refused, and a re-roll without it uses the full model."""
    from tests.bot.test_remix_e2e import _job_of, _text_input

    fake = fast_runner.fake
    await (await fake.invoke_slash("settings", {"remix": True})).wait_response(timeout=3)
    message, job_id = await _fast_grid(fast_runner)
    click = await fake.click(message.id, f"imagine:v:{job_id}:1")
    text = _text_input((await click.wait_response(timeout=3)).data)
    assert "--fast" in text["value"] and "--steps" not in text["value"] and "--sampler" not in text["value"]
    reply = await (await fake.submit_modal(click, {text["custom_id"]: "a harbour at dawn --fast"})).wait_response(
        timeout=3)
    child = await fast_runner.bot.queue.get(await _job_of(reply.content))
    assert (child.prompt, child.params["guidance_scale"], child.params["num_inference_steps"]) == (
        "a harbour at dawn", 0.0, 2)
    click = await fake.click(message.id, f"imagine:v:{job_id}:2")
    text = _text_input((await click.wait_response(timeout=3)).data)
    reply = await (await fake.submit_modal(click, {text["custom_id"]: "a harbour at dawn"})).wait_response(timeout=3)
    assert "stay fast" in reply.content and "Queued" not in reply.content
    for edit, fast in (("a harbour, storm --fast", True), ("a harbour, storm", False)):
        click = await fake.click(message.id, f"imagine:r:{job_id}:0")
        text = _text_input((await click.wait_response(timeout=3)).data)
        assert "--fast" in text["value"]
        reply = await (await fake.submit_modal(click, {text["custom_id"]: edit})).wait_response(timeout=3)
        child = await fast_runner.bot.queue.get(await _job_of(reply.content))
        g = fast_runner.config.generation
        expected = (0.0, 2, fast_runner.config.fast_models["draft"].lora) if fast else (
            g.guidance_scale, g.steps, "")
        assert (child.params["guidance_scale"], child.params["num_inference_steps"],
                child.params.get("lora", "")) == expected, edit
