"""Midjourney-style prompt flags: a table of accepted and refused prompts, and fuzzing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.errors import PromptError
from generation.prompt_params import PromptDefaults, PromptSpec, parse_prompt
from generation.requests import GenerationKind

ACCEPTED = [
    ("a cat", {"prompt": "a cat", "width": 512, "height": 512, "seed": None}),
    ("a cat --ar 16:9", {"width": 640, "height": 384, "aspect_ratio": "16:9"}),
    ("a cat --aspect 2:3", {"width": 384, "height": 576}),
    ("a cat --seed 42", {"seed": 42}),
    ("a cat --no dogs, birds ,  ", {"negative_prompt": "dogs, birds"}),
    ("a cat --chaos 30", {"chaos": 30}),
    ("a cat --c 0", {"chaos": 0}),
    ("a cat --stylize 0", {"guidance_scale": 12.0}),
    ("a cat --s 1000", {"guidance_scale": 2.0}),
    ("a cat --quality 2", {"num_inference_steps": 50}),
    ("a cat --q .5", {"num_inference_steps": 12}),
    ("a cat --steps 7 --q 2", {"num_inference_steps": 7}),
    ("a cat --tile", {"tiling": True}),
    ("a cat --sampler Euler_A", {"sampler": "euler_a"}),
    ("a cat —ar 1:2", {"width": 320, "height": 704}),
    ("a cat — and a dog", {"prompt": "a cat — and a dog"}),
    ("well-lit a--b room --SEED 3", {"prompt": "well-lit a--b room", "seed": 3}),
]

REFUSED = [
    ("", "prompt is empty"),
    ("   --seed 4", "prompt is empty"),
    ("a cat --ar 5:1", "--ar must be between 1:4 and 4:1, got '5:1'"),
    ("a cat --ar wide", "--ar needs W:H"),
    ("a cat --ar 0:1", "--ar needs W:H"),
    ("a cat --seed -1", "--seed needs a whole number from 0 to 4294967295, got '-1'"),
    ("a cat --seed", "--seed needs a value"),
    ("a cat --chaos 101", "--chaos needs a whole number from 0 to 100, got '101'"),
    ("a cat --stylize 2000", "--stylize needs a whole number from 0 to 1000, got '2000'"),
    ("a cat --q 3", "--q needs a number from 0.25 to 2, got '3'"),
    ("a cat --q nan", "--q needs a number from 0.25 to 2, got 'nan'"),
    ("a cat --steps 500", "--steps needs a whole number from 1 to 100, got '500'"),
    ("a cat --tile yes", "--tile takes no value, got 'yes'"),
    ("a cat --sampler magic", "--sampler must be one of Euler, Euler a, LMS"),
    ("a cat --weird 3", "unknown flag --weird"),
    ("a cat -- 3", "a lone -- needs a flag name"),
    ("a cat --seed 1 --seed 2", "--seed is given twice"),
    ("a cat --s 10 --stylize 20", "--stylize is given twice"),
    ("x" * 2001, "prompt is 2001 characters; the limit is 2000"),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_prompts(text, expected):
    """Each flag sets its PromptSpec field."""
    spec = parse_prompt(text)
    assert {key: getattr(spec, key) for key in expected} == expected


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_refused_prompts_name_the_flag_and_range(text, message):
    """Bad flags and values raise PromptError naming the flag and the allowed range."""
    with pytest.raises(PromptError, match=message):
        parse_prompt(text)


def test_defaults_set_the_steps_and_budget():
    """Operator defaults change the step count and the pixel budget."""
    spec = parse_prompt("a cat --ar 1:1", PromptDefaults(num_inference_steps=10, max_pixels=256 * 256))
    assert (spec.num_inference_steps, spec.width, spec.height) == (10, 256, 256)


def test_spec_builds_four_consecutive_seeds():
    """Without --seed the base seed is used; tiles get seeds S..S+3."""
    request = parse_prompt("a cat --no fog").to_request(base_seed=100, model="m")
    assert (request.kind, request.seeds, request.negative_prompt, request.model) == (
        GenerationKind.txt2img, (100, 101, 102, 103), "fog", "m"
    )


def test_spec_seed_flag_wins_over_base_seed():
    """--seed N replaces the bot's random base seed."""
    assert parse_prompt("a cat --seed 7").to_request(base_seed=100).seeds == (7, 8, 9, 10)


def test_chaos_spec_builds_variations_of_tile_one():
    """--chaos gives seeds (S,S,S,S), variation seeds S..S+3 and a strength from the chaos value."""
    request = parse_prompt("a cat --chaos 50 --seed 3").to_request(base_seed=0)
    assert (request.seeds, request.variation_seeds, request.variation_strength, request.chaos) == (
        (3, 3, 3, 3), (3, 4, 5, 6), 0.55, 50
    )


flag_words = st.sampled_from(
    ["--ar", "--seed", "--no", "--chaos", "--s", "--stylize", "--q", "--quality", "--steps", "--tile",
     "--sampler", "--x", "—ar", "--", "16:9", "1:5", "-3", "0", "42", "1e9", "nan", "euler", ",", " ", "\n"]
)
prompt_text = st.lists(st.one_of(flag_words, st.text(max_size=12)), max_size=12).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text=prompt_text)
def test_fuzzed_prompts_only_raise_prompt_error(text):
    """Any text either parses into a spec that builds a valid request, or raises PromptError."""
    try:
        spec = parse_prompt(text)
    except PromptError:
        return
    assert isinstance(spec, PromptSpec) and spec.prompt.strip()
    spec.to_request(base_seed=2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_unicode_only_raises_prompt_error(text):
    """Arbitrary Unicode never crashes the parser."""
    try:
        parse_prompt(text).to_request(base_seed=0)
    except PromptError:
        pass


def test_top_seed_wraps_tile_seeds_to_32_bits():
    """--seed 4294967295 gives tiles 4294967295, 0, 1, 2 (wrapped, never 4294967298), --chaos too."""
    assert parse_prompt("a cat --seed 4294967295").to_request(0).seeds == (4294967295, 0, 1, 2)
    chaos = parse_prompt("a cat --seed 4294967295 --chaos 10").to_request(0)
    assert chaos.variation_seeds == (4294967295, 0, 1, 2)
