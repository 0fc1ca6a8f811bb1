"""A1111 `parameters` infotext: writing and parsing back."""

import pytest

from generation.metadata import infotext, parse_infotext
from generation.refine import refine_request
from generation.variations import variation_request
from tests.generation.conftest import tiny_request


def test_infotext_has_a1111_layout():
    """Prompt line, negative prompt line, then the comma-separated parameter line."""
    text = infotext(tiny_request(negative_prompt="fog", model="tiny", sampler="euler_a"), 1)
    assert text.split("\n") == [
        "a lighthouse at dusk",
        "Negative prompt: fog",
        "Steps: 3, Sampler: Euler a, CFG scale: 7.0, Seed: 43, Size: 64x64, Model: tiny",
    ]


def test_variation_chain_round_trips():
    """Seed, variation seed, strength and chain parse back to the exact values written."""
    request = variation_request(variation_request(tiny_request(), 1, 0.35, 10), 4, 0.15, 20)
    parsed = parse_infotext(infotext(request, 2))
    assert (parsed.seed, parsed.variation_seed, parsed.variation_strength) == (42, 22, 0.15)
    assert parsed.variation_chain == ((13, 0.35),)


def test_refine_round_trips_strength_and_size():
    """A refine's denoising strength and doubled size parse back."""
    request = refine_request(tiny_request(), 1, "tile-1.png", seed=9, strength=0.3)
    parsed = parse_infotext(infotext(request, 0))
    assert (parsed.strength, parsed.width, parsed.height, parsed.seed) == (0.3, 128, 128, 9)


@pytest.mark.parametrize("model", ["org/model-v1", "C:\\models\\sd, v1.5", 'odd "quoted" name'])
def test_awkward_model_names_round_trip(model):
    """Model names with commas, colons or quotes are quoted and parse back unchanged."""
    assert parse_infotext(infotext(tiny_request(model=model), 0)).model == model


def test_multiline_prompt_round_trips():
    """Prompt and negative prompt spanning lines come back whole."""
    request = tiny_request(prompt="line one\nline two", negative_prompt="neg one\nneg two", tiling=True)
    parsed = parse_infotext(infotext(request, 0))
    assert (parsed.prompt, parsed.negative_prompt, parsed.tiling) == ("line one\nline two", "neg one\nneg two", True)


def test_parses_automatic1111_text():
    """An infotext written by AUTOMATIC1111 itself parses, unknown keys kept as text."""
    text = (
        "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, "
        "Seed: 1234, Size: 512x768, Model hash: abc123, Model: v1-5, Variation seed: 99, "
        "Variation seed strength: 0.2, Version: v1.10.1"
    )
    parsed = parse_infotext(text)
    assert (parsed.sampler, parsed.seed, parsed.width, parsed.height, parsed.variation_seed) == (
        "Euler a", 1234, 512, 768, 99
    )
    assert parsed.sampler_id == "euler_a"
    assert parsed.extra["Model hash"] == "abc123"


def test_non_infotext_is_refused():
    """Text without a parameter line raises ValueError."""
    with pytest.raises(ValueError, match="not an infotext"):
        parse_infotext("just a caption")
