"""GenerationRequest: JSON round trip and validation that names the bad value."""

import json

import pytest

from generation.errors import RequestError
from generation.requests import GenerationKind, GenerationRequest, fit_size
from generation.variations import variation_request
from tests.generation.conftest import tiny_request


def test_request_round_trips_through_json():
    """to_dict() survives json.dumps/loads and from_dict() rebuilds an equal request."""
    request = variation_request(
        variation_request(tiny_request(negative_prompt="fog", tiling=True), 1, 0.2, 10), 2, 0.1, 20
    )
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_kind_is_stored_as_its_string():
    """The stored kind is the plain string value."""
    assert tiny_request().to_dict()["kind"] == "txt2img"


def test_from_dict_refuses_unknown_fields():
    """An unknown key in stored params raises RequestError naming it."""
    with pytest.raises(RequestError, match="colour"):
        GenerationRequest.from_dict(tiny_request().to_dict() | {"colour": "red"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"seeds": ()}, r"seeds must hold 1 to 8 seeds, got \[\]"),
        ({"seeds": (-1,)}, "got -1"),
        ({"seeds": (1.5,)}, "got 1.5"),
        ({"seeds": (2**32,)}, "seed must be an integer from 0 to 4294967295, got 4294967296"),
        ({"width": 100}, "width must be a multiple of 8 from 64 to 4096, got 100"),
        ({"height": 8192}, "got 8192"),
        ({"num_inference_steps": 0}, "num_inference_steps must be from 1 to 200, got 0"),
        ({"guidance_scale": float("nan")}, "got nan"),
        ({"sampler": "fancy"}, "unknown sampler 'fancy'"),
        ({"variation_seeds": (1, 2)}, r"one seed per image \(4\), got \[1, 2\]"),
        ({"variation_strength": 1.5}, "variation_strength must be a number from 0 to 1, got 1.5"),
        ({"kind": "paint"}, "unknown kind 'paint'"),
        ({"kind": "refine", "seeds": (1,)}, "needs init_image, got None"),
        ({"init_image": "x.png"}, "takes no init_image, got 'x.png'"),
        ({"kind": "variation"}, "needs variation_seeds"),
        ({"chaos": 101}, "chaos must be an integer from 0 to 100, got 101"),
    ],
)
def test_invalid_fields_are_named(overrides, message):
    """Each out-of-range field raises RequestError quoting the bad value."""
    with pytest.raises(RequestError, match=message):
        tiny_request(**overrides)


def test_a1111_sampler_name_is_stored_as_its_id():
    """A request built with A1111's sampler name stores the short id, so stored params stay stable."""
    assert tiny_request(sampler="DPM++ 2M Karras").to_dict()["sampler"] == "dpmpp_2m_karras"


def test_string_kind_is_coerced():
    """A kind given as its string becomes the enum member."""
    assert tiny_request(kind="variation", variation_seeds=(1, 2, 3, 4)).kind is GenerationKind.variation


@pytest.mark.parametrize(
    ("aspect", "budget", "size"),
    [((1, 1), 512 * 512, (512, 512)), ((16, 9), 512 * 512, (640, 384)), ((1, 4), 512 * 512, (256, 1024))],
)
def test_fit_size_keeps_aspect_within_budget(aspect, budget, size):
    """fit_size picks multiples of 64 with the aspect ratio and at most the pixel budget."""
    assert fit_size(*aspect, budget) == size
