"""Vary (Region), Zoom Out, Pan and Make Square: geometry, unchanged pixels, metadata, plain-diffusers reproduction."""

import dataclasses

import numpy
import pytest
import torch
from PIL import Image

from generation.canvas import pan_request, parse_region, region_request, square_request, zoom_request
from generation.errors import RequestError
from generation.metadata import infotext, parse_infotext
from generation.outputs import write_outputs
from generation.requests import GenerationKind
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters

BUDGET = 64 * 64


def _source(width=64, height=64):
    """An upscaled image's request (the parent of every canvas job here)."""
    return tiny_request(kind="refine", seeds=(1,), init_image="up.png", strength=0.3, width=width, height=height)


@pytest.mark.parametrize(("text", "region"), [
    ("left", (0, 0, 50, 100)), ("Centre", (25, 25, 50, 50)), ("10,20,50,40", (10, 20, 50, 40)),
    ("10% 20% 50% 40%", (10, 20, 50, 40)),
])
def test_region_presets_and_percent_boxes(text, region):
    """Presets and `x,y,w,h` in percent (commas or spaces, % optional) give the region in percent."""
    assert parse_region(text) == region


@pytest.mark.parametrize("text", ["middle", "10,20,50", "60,0,50,100", "0,0,0,10", "a,b,c,d"])
def test_bad_regions_are_refused(text):
    """Unknown presets, missing numbers and boxes leaving the image raise RequestError quoting the input."""
    with pytest.raises(RequestError, match="region"):
        parse_region(text)


def test_region_request_scales_to_budget_and_boxes_the_region():
    """Vary (Region) of a 128x128 image on a 64x64 budget repaints the left half of a 64x64 canvas, 4 seeds."""
    request = region_request(_source(128, 128), "up.png", parse_region("left"), seed=9, max_pixels=BUDGET,
                             max_side=2048, prompt="a red door")
    assert (request.kind, request.width, request.height, request.mask_box) == (GenerationKind.inpaint, 64, 64,
                                                                                (0, 0, 32, 64))
    assert (request.seeds, request.prompt, request.strength) == ((9, 10, 11, 12), "a red door", 1.0)


@pytest.mark.parametrize(("build", "size", "box"), [
    (lambda s: zoom_request(s, "up.png", 2.0, 1, BUDGET, 2048), (64, 64), (16, 16, 32, 32)),
    (lambda s: zoom_request(s, "up.png", 1.5, 1, BUDGET * 4, 2048), (96, 96), (16, 16, 64, 64)),
    (lambda s: pan_request(s, "up.png", "right", 1, BUDGET, 2048), (96, 64), (0, 0, 64, 64)),
    (lambda s: pan_request(s, "up.png", "up", 1, BUDGET * 4, 2048), (64, 96), (0, 32, 64, 64)),
])
def test_outpaint_geometry(build, size, box):
    """Zoom Out and Pan place the image inside a larger canvas (multiples of 8, within the budget)."""
    request = build(_source())
    assert (request.kind, (request.width, request.height), request.mask_box) == (GenerationKind.outpaint, size, box)


def test_make_square_centres_a_portrait():
    """Make Square puts a 64x128 image in the middle of a square canvas."""
    request = square_request(_source(64, 128), "up.png", 1, BUDGET, 2048)
    assert ((request.width, request.height), request.mask_box) == ((64, 64), (16, 0, 32, 64))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: square_request(_source(), "up.png", 1, BUDGET, 2048), "already square"),
    (lambda: zoom_request(_source(), "up.png", 2.5, 1, BUDGET, 2048), "from 1.0 to 2.0, got 2.5"),
    (lambda: pan_request(_source(256, 64), "up.png", "left", 1, BUDGET, 2048), "within 1:4 to 4:1"),
    (lambda: pan_request(_source(), "up.png", "sideways", 1, BUDGET, 2048), "left, right, up, down"),
])
def test_impossible_canvas_requests_are_refused(build, message):
    """Square images, zooms beyond 2x, pans past 4:1 and unknown directions raise RequestError."""
    with pytest.raises(RequestError, match=message):
        build()


def test_canvas_metadata_round_trips():
    """Source image, box and denoising strength are written (box as WxH+X+Y) and parse back."""
    request = pan_request(_source(), "outputs/7/tile-1.png", "right", 1, BUDGET, 2048)
    parsed = parse_infotext(infotext(request, 0))
    assert (parsed.source_image, parsed.outpaint_box, parsed.strength) == ("outputs/7/tile-1.png", (0, 0, 64, 64), 1.0)
    assert "Outpaint box: 64x64+0+0" in infotext(request, 0)


@pytest.fixture(scope="module")
def upscaled(grid_result, tmp_path_factory):
    """A 64x64 image file standing in for an upscaled result."""
    return write_outputs(grid_result, tmp_path_factory.mktemp("canvas")).tiles[0]


@pytest.fixture(scope="module")
def plain_inpaint(tiny_model_dir):
    """A plain diffusers StableDiffusionInpaintPipeline on the tiny model."""
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pretrained(tiny_model_dir, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_vary_region_leaves_other_pixels_unchanged(engine, upscaled):
    """Outside the region every pixel equals the source's; inside, the four candidates differ."""
    request = region_request(dataclasses.replace(_source(), init_image=str(upscaled)), str(upscaled),
                             parse_region("right"), seed=3, max_pixels=BUDGET, max_side=2048)
    result = engine.run(request)
    source = numpy.asarray(Image.open(upscaled).convert("RGB"))
    outputs = [numpy.asarray(image) for image in result.images]
    assert all((output[:, :32] == source[:, :32]).all() for output in outputs)
    assert mean_abs_difference(result.images[0], result.images[1]) > 0.5


def _reference_canvas(params):
    """Canvas and mask rebuilt from the PNG's values, following generation/canvas.py's documented convention."""
    size = (params.width, params.height)
    with Image.open(params.source_image) as opened:
        source = opened.convert("RGB")
    if params.inpaint_box:
        x, y, w, h = params.inpaint_box
        canvas, mask = source.resize(size, Image.Resampling.LANCZOS), Image.new("L", size, 0)
        mask.paste(255, (x, y, x + w, y + h))
    else:
        x, y, w, h = params.outpaint_box
        canvas, mask = Image.new("RGB", size, (127, 127, 127)), Image.new("L", size, 255)
        canvas.paste(source.resize((w, h), Image.Resampling.LANCZOS), (x, y))
        mask.paste(0, (x, y, x + w, y + h))
    return canvas, mask


@pytest.mark.parametrize("kind", ["region", "zoom", "pan", "square"])
def test_canvas_tiles_reproduced_by_plain_diffusers(engine, plain_inpaint, upscaled, tmp_path, kind):
    """Each tile of a region, zoom, pan or square job is reproduced by plain diffusers inpainting from its PNG."""
    source = dataclasses.replace(_source(), init_image=str(upscaled))
    request = {
        "region": lambda: region_request(source, str(upscaled), parse_region("10,10,50,60"), 5, BUDGET, 2048),
        "zoom": lambda: zoom_request(source, str(upscaled), 1.5, 5, BUDGET, 2048),
        "pan": lambda: pan_request(source, str(upscaled), "down", 5, BUDGET, 2048),
        "square": lambda: square_request(dataclasses.replace(source, height=128), str(upscaled), 5, BUDGET, 2048),
    }[kind]()
    result = engine.run(dataclasses.replace(request, seeds=request.seeds[:2]))
    for image, path in zip(result.images, write_outputs(result, tmp_path).tiles):
        params = read_parameters(path)
        canvas, mask = _reference_canvas(params)
        plain = plain_inpaint(
            params.prompt, image=canvas, mask_image=mask, height=params.height, width=params.width,
            strength=params.strength, num_inference_steps=params.num_inference_steps,
            guidance_scale=params.guidance_scale, generator=torch.Generator("cpu").manual_seed(params.seed),
        ).images[0]
        assert mean_abs_difference(image, Image.composite(plain, canvas, mask)) < 1.0
