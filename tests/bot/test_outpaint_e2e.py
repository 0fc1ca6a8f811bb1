"""Vary (Region), Zoom Out, Custom Zoom, Pan and Make Square under an upscaled image, through the fake Discord."""

from __future__ import annotations

import numpy
from PIL import Image

from generation.metadata import parse_infotext
from tests.bot.conftest import TILE, BotRunner, custom_ids, image_of, wait_result
from tests.fakediscord.interactions import MODAL


async def _click(runner: BotRunner, message, custom_id: str):
    """Click a button and return the result message it leads to."""
    mark = runner.fake.mark()
    click = await runner.fake.click(message.id, custom_id)
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    return await wait_result(runner.fake, mark)


def _job(message) -> int:
    return int(custom_ids(message)[0].split(":")[2])


async def test_zoom_pan_and_make_square_post_grids_whose_buttons_work(runner: BotRunner) -> None:
    """Zoom Out 2x and ➡️ on an upscale post 2x2 grids keeping the image; U1 of the pan grid offers Make Square."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a harbour --seed 100"})
    grid = await wait_result(fake, mark)
    upscaled = await _click(runner, grid, f"imagine:u:{_job(grid)}:1")  # 128x128, square: no Make Square
    assert f"imagine:sq:{_job(upscaled)}:1" not in custom_ids(upscaled)
    # Zoom Out 2x: the upscale shrunk into the middle of each tile, the border painted.
    zoomed = await _click(runner, upscaled, f"imagine:z2:{_job(upscaled)}:1")
    assert image_of(zoomed).size == (2 * TILE, 2 * TILE) and "zoom, pan or square of" in zoomed.content
    tile = runner.config.outputs_dir / str(_job(zoomed)) / "tile-2.png"
    with Image.open(tile) as image:
        info = parse_infotext(image.info["parameters"])
        kept = numpy.asarray(image)[16:48, 16:48]
    with Image.open(runner.config.data_dir / info.source_image) as source:
        expected = numpy.asarray(source.convert("RGB").resize((32, 32), Image.Resampling.LANCZOS))
    assert info.outpaint_box == (16, 16, 32, 32) and (kept == expected).all()
    # ➡️: a wider canvas; U1 of that grid is a non-square upscale offering Make Square, which squares it again.
    panned = await _click(runner, upscaled, f"imagine:pr:{_job(upscaled)}:1")
    assert image_of(panned).size == (2 * 96, 2 * 64)
    wide = await _click(runner, panned, f"imagine:u:{_job(panned)}:1")
    assert image_of(wide).size == (192, 128)
    squared = await _click(runner, wide, f"imagine:sq:{_job(wide)}:1")
    assert image_of(squared).size == (2 * TILE, 2 * TILE)
    assert parse_infotext(image_of(squared).info["parameters"]).outpaint_box == (0, 8, 64, 40)


def _inputs(callback_data: dict) -> dict[str, dict]:
    """The text inputs of a modal by custom_id, whether in action rows or labels."""
    found = {}
    for top in callback_data["components"]:
        for component in [top["component"]] if "component" in top else top["components"]:
            if component["type"] == 4:
                found[component["custom_id"]] = component
    return found


async def _upscaled(runner: BotRunner):
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a harbour --seed 100"})
    grid = await wait_result(fake, mark)
    return await _click(runner, grid, f"imagine:u:{_job(grid)}:1")


async def test_vary_region_repaints_only_the_region_with_the_new_prompt(runner: BotRunner) -> None:
    """Vary (Region) opens a box; `right` with a new prompt posts a grid whose left halves equal the upscale's."""
    fake = runner.fake
    upscaled = await _upscaled(runner)
    click = await fake.click(upscaled.id, f"imagine:vr:{_job(upscaled)}:1")
    opened = await click.wait_response(timeout=3)
    assert opened.type == MODAL and set(_inputs(opened.data)) == {"region", "prompt"}
    mark = fake.mark()
    submitted = await fake.submit_modal(click, {"region": "right", "prompt": "a harbour with a red boat"})
    assert "Queued as job #" in (await submitted.wait_response(timeout=3)).content
    grid = await wait_result(fake, mark)
    assert image_of(grid).size == (2 * TILE, 2 * TILE) and "region variations of" in grid.content
    info = parse_infotext(image_of(grid).info["parameters"])
    assert (info.prompt, info.inpaint_box) == ("a harbour with a red boat", (32, 0, 32, 64))
    with Image.open(runner.config.data_dir / info.source_image) as source:
        left = numpy.asarray(source.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS))[:, :32]
    for tile in range(1, 5):
        with Image.open(runner.config.outputs_dir / str(_job(grid)) / f"tile-{tile}.png") as image:
            assert (numpy.asarray(image)[:, :32] == left).all()
    # The grid's buttons work: V1 on it queues and posts variations.
    assert "imagine:v:" in " ".join(await _click_ids(runner, grid))


async def _click_ids(runner: BotRunner, grid) -> list[str]:
    """Click V1 on a grid and return the custom_ids of the result it posts."""
    return custom_ids(await _click(runner, grid, f"imagine:v:{_job(grid)}:1"))


async def test_bad_region_and_zoom_input_is_refused_with_a_message(runner: BotRunner) -> None:
    """An unknown region or a zoom factor outside 1.0-2.0 is answered privately with the reason; nothing queues."""
    fake = runner.fake
    upscaled = await _upscaled(runner)
    for action, values, needle in [("vr", {"region": "middle"}, "use left, right, top, bottom, centre"),
                                   ("zc", {"factor": "3"}, "above 1.0 and at most 2.0, got '3'")]:
        click = await fake.click(upscaled.id, f"imagine:{action}:{_job(upscaled)}:1")
        await click.wait_response(timeout=3)
        reply = await (await fake.submit_modal(click, values)).wait_response(timeout=3)
        assert reply.ephemeral and needle in reply.content, reply.content
    assert (await runner.bot.queue.counts()).get("queued", 0) == 0


async def test_custom_zoom_uses_the_typed_factor(runner: BotRunner) -> None:
    """Custom Zoom 1.5 places the upscale in the middle two thirds of each tile."""
    fake = runner.fake
    upscaled = await _upscaled(runner)
    click = await fake.click(upscaled.id, f"imagine:zc:{_job(upscaled)}:1")
    await click.wait_response(timeout=3)
    mark = fake.mark()
    await (await fake.submit_modal(click, {"factor": "1.5"})).wait_response(timeout=3)
    grid = await wait_result(fake, mark)
    assert parse_infotext(image_of(grid).info["parameters"]).outpaint_box == (8, 8, 40, 40)
