"""Refine (U buttons) and uploaded-image requests: builders, output size, reproduction by plain diffusers."""

import dataclasses

import pytest
import torch
from PIL import Image

from generation.errors import RequestError
from generation.outputs import write_outputs
from generation.refine import img2img_request, refine_request, upload_upscale_request
from generation.requests import GenerationKind
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters


def test_refine_request_doubles_the_tile():
    """U1 asks for one image at twice the tile's size, with its own seed and a low strength."""
    request = refine_request(tiny_request(), tile=1, init_image="tile-1.png", seed=77)
    assert (request.kind, request.seeds, request.width, request.height) == (GenerationKind.refine, (77,), 128, 128)
    assert 0 < request.strength <= 0.5


def test_refine_request_over_limit_names_the_limit():
    """Refining past max_side raises RequestError naming the size and the limit."""
    with pytest.raises(RequestError, match="1024x1024 is over the limit of 1000"):
        refine_request(tiny_request(width=512, height=512), 1, "tile-1.png", seed=1, max_side=1000)


def test_img2img_request_takes_the_upload_aspect():
    """An upload of 300x600 gives a portrait request within the pixel budget, multiples of 64."""
    request = img2img_request(tiny_request(), "upload.png", (300, 600), max_pixels=64 * 128)
    assert (request.kind, request.width, request.height) == (GenerationKind.img2img, 64, 128)


def test_img2img_request_refuses_extreme_aspect():
    """An upload far beyond 4:1 raises RequestError naming its size."""
    with pytest.raises(RequestError, match="image is 100x16000; its sides must be within 1:4 to 4:1"):
        img2img_request(tiny_request(), "upload.png", (100, 16000))


@pytest.fixture(scope="module")
def refined(engine, grid_result, tmp_path_factory):
    """(refine result, parent tile path): tile 2 of the shared grid refined 2x."""
    folder = tmp_path_factory.mktemp("refine")
    tile_path = write_outputs(grid_result, folder / "parent").tiles[1]
    request = refine_request(grid_result.request, 2, str(tile_path), seed=1234, strength=0.5)
    return engine.run(request), tile_path, folder


def test_refine_output_is_twice_the_tile(refined):
    """The refined image is 128x128 for a 64x64 tile."""
    result, _, _ = refined
    assert [image.size for image in result.images] == [(128, 128)]


def test_refine_reproduced_by_plain_img2img(refined, plain_img2img):
    """The refined PNG is reproduced by plain diffusers img2img from its metadata and the parent tile."""
    result, tile_path, folder = refined
    params = read_parameters(write_outputs(result, folder / "refined").primary)
    with Image.open(tile_path) as tile:
        init = tile.convert("RGB").resize((params.width, params.height), Image.Resampling.LANCZOS)
    plain = plain_img2img(
        params.prompt, image=init, strength=params.strength, num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale, generator=torch.Generator("cpu").manual_seed(params.seed),
    ).images[0]
    assert mean_abs_difference(result.images[0], plain) < 1.0
    assert params.extra["Upscaler"] == "Lanczos"


def test_img2img_run_makes_four_images(engine, refined, tmp_path):
    """An uploaded image with a prompt gives four distinct images at the request's size."""
    _, tile_path, _ = refined
    request = img2img_request(tiny_request(), str(tile_path), (64, 64), strength=0.7, max_pixels=64 * 64)
    result = engine.run(request)
    assert [image.size for image in result.images] == [(64, 64)] * 4
    assert mean_abs_difference(result.images[0], result.images[1]) > 0.5


def test_configured_upscaler_model_replaces_lanczos(tiny_model_dir, refined, monkeypatch):
    """With an upscaler configured, refine feeds the tile through it (seeded) and records its name."""
    from types import SimpleNamespace

    from generation import pipelines
    from generation.engine import Engine

    calls = []

    def fake_upscaler(prompt, image, num_inference_steps, guidance_scale, generator):
        calls.append((prompt, image.size))
        return SimpleNamespace(images=[image.resize((image.width * 2, image.height * 2))])

    monkeypatch.setattr(pipelines, "load_upscaler", lambda model, device, dtype: fake_upscaler)
    result, _, _ = refined
    upscaling = Engine(str(tiny_model_dir), device="cpu", upscaler="example/x2-upscaler")
    output = upscaling.run(dataclasses.replace(result.request, model=""))
    assert calls == [(result.request.prompt, (64, 64))]
    assert output.images[0].size == (128, 128) and "Upscaler: example/x2-upscaler" in output.infotexts[0]


@pytest.mark.parametrize(("upload", "max_side", "size"), [
    ((1024, 1024), 2048, (2048, 2048)), ((300, 200), 2048, (600, 400)), ((1536, 1024), 2048, (2048, 1360)),
])
def test_upload_upscale_is_twice_the_upload_within_max_side(upload, max_side, size):
    """/upscale image: asks for twice the upload's own size, shrunk only to fit generation.max_side."""
    request = upload_upscale_request(tiny_request(), "upload.png", upload, seed=5, max_side=max_side)
    assert (request.kind, request.width, request.height, request.seeds) == (GenerationKind.refine, *size, (5,))


def test_upload_already_at_max_side_is_refused():
    """An upload that an upscale could not enlarge is refused with its size and the cap, not shrunk."""
    with pytest.raises(RequestError, match="image is already 2048x1024; an upscale may reach at most 2048"):
        upload_upscale_request(tiny_request(), "upload.png", (2048, 1024), seed=5, max_side=2048)
