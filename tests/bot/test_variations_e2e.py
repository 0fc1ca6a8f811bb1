"""V and U buttons, /vary and /upscale, end to end through the fake Discord."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from generation.metadata import parse_infotext
from tests.bot.conftest import TILE, BotRunner, custom_ids, image_of, recorded_job, wait_result


async def _grid(runner: BotRunner, prompt: str = "a lighthouse --seed 99"):
    mark = runner.fake.mark()
    await runner.fake.invoke_slash("imagine", {"prompt": prompt})
    message = await wait_result(runner.fake, mark)
    job_id = await recorded_job(runner, message)
    return message, job_id


async def test_v2_makes_a_variation_grid_naming_its_parent(runner: BotRunner) -> None:
    """V2 posts a new 2x2 grid, says it varies job N tile 2, and keeps tile 2's seed in every tile."""
    fake = runner.fake
    parent, job_id = await _grid(runner)
    mark = fake.mark()
    click = await fake.click(parent.id, f"imagine:v:{job_id}:2")
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    child = await wait_result(fake, mark)
    assert f"variations of #{job_id}, tile 2" in child.content
    assert image_of(child).size == (2 * TILE, 2 * TILE)
    info = parse_infotext(image_of(child).info["parameters"])
    assert info.seed == 100 and info.variation_seed is not None and info.variation_strength == pytest.approx(0.15)


async def test_u3_posts_one_image_twice_the_tile_with_its_own_buttons(runner: BotRunner) -> None:
    """U3 posts a single 2x image with Vary (Subtle), Vary (Strong) and Upscale 2x buttons."""
    fake = runner.fake
    parent, job_id = await _grid(runner)
    mark = fake.mark()
    await fake.click(parent.id, f"imagine:u:{job_id}:3")
    upscaled = await wait_result(fake, mark)
    assert image_of(upscaled).size == (2 * TILE, 2 * TILE)
    assert f"upscale of #{job_id}, tile 3" in upscaled.content
    child_id = int(custom_ids(upscaled)[0].split(":")[2])
    assert custom_ids(upscaled) == [f"imagine:{action}:{child_id}:1" for action in (
        "v", "vs", "u", "vr", "z2", "z15", "zc", "pl", "pr", "pu", "pd")] + [
        f"imagine:i:{child_id}:0", f"imagine:d:{child_id}:0"]
    info = parse_infotext(image_of(upscaled).info["parameters"])
    assert info.strength == pytest.approx(0.3)
    # Vary (Strong) on the upscale gives a new grid; Upscale 2x again gives 4x the tile.
    mark = fake.mark()
    await fake.click(upscaled.id, f"imagine:vs:{child_id}:1")
    assert image_of(await wait_result(fake, mark)).size == (2 * TILE, 2 * TILE)
    mark = fake.mark()
    await fake.click(upscaled.id, f"imagine:u:{child_id}:1")
    bigger = await wait_result(fake, mark)
    assert image_of(bigger).size == (4 * TILE, 4 * TILE)
    assert "imagine:u:" not in " ".join(custom_ids(bigger))  # 256 is the configured max side in these tests


async def test_vary_and_upscale_commands_on_a_tile(runner: BotRunner) -> None:
    """/vary job tile strength and /upscale job tile work like the buttons."""
    fake = runner.fake
    _, job_id = await _grid(runner)
    mark = fake.mark()
    inter = await fake.invoke_slash("vary", {"job": str(job_id), "tile": 4, "strength": "strong"})
    assert "Queued" in (await inter.wait_response(timeout=3)).content
    varied = await wait_result(fake, mark)
    assert parse_infotext(image_of(varied).info["parameters"]).variation_strength == pytest.approx(0.35)
    mark = fake.mark()
    inter = await fake.invoke_slash("upscale", {"job": str(job_id), "tile": 1})
    assert "Queued" in (await inter.wait_response(timeout=3)).content
    assert image_of(await wait_result(fake, mark)).size == (2 * TILE, 2 * TILE)


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_vary_and_upscale_an_uploaded_image(runner: BotRunner) -> None:
    """/vary and /upscale with an attachment download it from Discord's URL and run img2img on it."""
    fake = runner.fake
    mark = fake.mark()
    inter = await fake.invoke_slash("vary", {"prompt": "a red square, watercolor"},
                                    attachments={"image": ("red.png", _png((64, 64)), "image/png")})
    assert "Queued as job #" in await deferred_reply(inter)
    assert len(fake.downloads) == 1  # fetched once, from the fake CDN
    grid = await wait_result(fake, mark)
    assert image_of(grid).size == (2 * TILE, 2 * TILE)
    assert parse_infotext(image_of(grid).info["parameters"]).strength == pytest.approx(0.35)
    mark = fake.mark()
    inter = await fake.invoke_slash("upscale", {}, attachments={"image": ("red.png", _png((64, 64)), "image/png")})
    assert "Queued as job #" in await deferred_reply(inter)
    assert image_of(await wait_result(fake, mark)).size == (2 * TILE, 2 * TILE)


async def test_upscale_of_an_upload_doubles_the_upload(runner: BotRunner) -> None:
    """/upscale image: returns twice the upload's own size (here 128x96 -> 256x192, max_side 256), not 2x the budget."""
    fake = runner.fake
    mark = fake.mark()
    inter = await fake.invoke_slash("upscale", {}, attachments={"image": ("big.png", _png((128, 96)), "image/png")})
    assert "Queued as job #" in await deferred_reply(inter)
    assert image_of(await wait_result(fake, mark)).size == (256, 192)


async def deferred_reply(inter) -> str:
    """The text that replaced a deferred command's "thinking" message (uploads are acknowledged first)."""
    await inter.wait_response(timeout=3)
    async with asyncio.timeout(10):
        while inter.original is None or not inter.original.content:
            await asyncio.sleep(0.02)
    return inter.original.content


@pytest.mark.parametrize(("name", "data", "needle"), [
    ("notes.txt", b"hello, not an image", "notes.txt"),
    ("huge.png", _png((64, 64))[:8] + b"\0" * 64, "image"),
])
async def test_bad_uploads_are_refused_before_queueing(runner: BotRunner, name: str, data: bytes, needle: str) -> None:
    """A non-image or broken upload gets a clear private message and queues nothing."""
    inter = await runner.fake.invoke_slash("vary", {"prompt": "x"}, attachments={"image": (name, data, "image/png")})
    text = await deferred_reply(inter)
    assert "can't be used" in text and needle.lower() in text.lower(), text
    assert sum((await runner.bot.queue.counts()).values()) == 0


async def test_unknown_job_is_refused_privately(runner: BotRunner) -> None:
    """/vary on a job id that this server never had answers privately and queues nothing."""
    inter = await runner.fake.invoke_slash("vary", {"job": "987654", "tile": 1})
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "no job #987654" in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == 0


async def test_commands_and_buttons_respect_the_allowed_channels(runner: BotRunner) -> None:
    """With discord.channel_ids set, /imagine and clicks elsewhere answer privately and queue nothing."""
    from dataclasses import replace

    parent, job_id = await _grid(runner)
    runner.config = replace(runner.config, discord=replace(runner.config.discord,
                                                             channel_ids=(runner.fake.other_channel_id,)))
    await runner.restart()
    before = sum((await runner.bot.queue.counts()).values())
    inter = await runner.fake.invoke_slash("imagine", {"prompt": "a cat"})
    assert "only in" in (await inter.wait_response(timeout=3)).content
    click = await runner.fake.click(parent.id, f"imagine:v:{job_id}:1")
    assert "only in" in (await click.wait_response(timeout=3)).content
    assert sum((await runner.bot.queue.counts()).values()) == before


async def test_vary_accepts_a_message_link(runner: BotRunner) -> None:
    """/vary job:<link to a result message> finds the job behind that message."""
    parent, job_id = await _grid(runner)
    link = f"https://discord.com/channels/{runner.fake.guild_id}/{parent.channel_id}/{parent.id}"
    mark = runner.fake.mark()
    inter = await runner.fake.invoke_slash("vary", {"job": link, "tile": 3})
    assert "Queued" in (await inter.wait_response(timeout=3)).content
    child = await wait_result(runner.fake, mark)
    assert f"variations of #{job_id}, tile 3" in child.content


@pytest.mark.parametrize("command", ["vary", "upscale"])
async def test_uploads_are_not_fetched_for_a_member_the_door_refuses(runner: BotRunner, command: str,
                                                                     configure) -> None:
    """Channel rules and limits are checked before the upload is downloaded, decoded or written."""
    from bot.config import LimitSettings, WorkerSettings

    configure(limits=LimitSettings(max_queued_per_user=1), worker=WorkerSettings(embedded=False))
    await runner.restart()
    fake = runner.fake
    await (await fake.invoke_slash("imagine", {"prompt": "waiting"})).wait_response(timeout=5)
    inter = await fake.invoke_slash(command, {"prompt": "x"},
                                    attachments={"image": ("red.png", _png((64, 64)), "image/png")})
    assert "You already have 1 jobs waiting" in await deferred_reply(inter)
    assert fake.downloads == []
    assert not runner.config.uploads_dir.exists() or not any(runner.config.uploads_dir.iterdir())
