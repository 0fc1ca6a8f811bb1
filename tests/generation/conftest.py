"""Fixtures for generation tests: one Engine and plain diffusers pipelines on the tiny model, built once."""

from pathlib import Path

import pytest

from generation.requests import GenerationKind, GenerationRequest

SIZE = 64
STEPS = 3


def tiny_request(**overrides) -> GenerationRequest:
    """A small 4-tile txt2img request; keyword overrides replace fields."""
    fields = {
        "kind": GenerationKind.txt2img,
        "prompt": "a lighthouse at dusk",
        "seeds": (42, 43, 44, 45),
        "width": SIZE,
        "height": SIZE,
        "num_inference_steps": STEPS,
    }
    return GenerationRequest(**(fields | overrides))


def mean_abs_difference(first, second) -> float:
    """Mean absolute pixel difference of two PIL images, in 0-255 units."""
    import numpy

    return float(numpy.abs(numpy.asarray(first, dtype=float) - numpy.asarray(second, dtype=float)).mean())


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path):
    """The Engine on the tiny model (CPU, float32)."""
    from generation.engine import Engine

    return Engine(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def plain_txt2img(tiny_model_dir: Path):
    """A plain diffusers StableDiffusionPipeline on the tiny model, loaded independently of the Engine."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def plain_img2img(tiny_model_dir: Path):
    """A plain diffusers StableDiffusionImg2ImgPipeline on the tiny model, loaded independently of the Engine."""
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_model_dir, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def grid_result(engine):
    """One 4-tile txt2img result shared by read-only tests."""
    return engine.run(tiny_request())
