"""The Info button's /imagine line: parsed again by the prompt parser, it makes the same request."""

from __future__ import annotations

import pytest

from bot.job_info import reproduce
from generation.prompt_params import PromptDefaults, parse_prompt
from generation.variations import variation_request

DEFAULTS = PromptDefaults(num_inference_steps=25, guidance_scale=7.0, max_pixels=512 * 512)
MODEL = "base/model"


def _parse_line(line: str):
    assert line.startswith("/imagine prompt: ")
    return parse_prompt(line.removeprefix("/imagine prompt: "), DEFAULTS)


@pytest.mark.parametrize("prompt", [
    "a lighthouse at dusk",
    "red fox --seed 1234 --ar 16:9 --no blur, text --steps 7",
    "a castle --chaos 30 --seed 9 --stylize 100 --tile --sampler ddim",
    "portrait --ar 2:3 --q 0.5 --s 1000 --seed 4294967295",
    "wide --ar 4:1 --c 100 --sampler euler_a",
    "dusk --sampler dpmpp_2m_karras --seed 2",
])
def test_line_parses_back_to_the_same_request(prompt: str) -> None:
    """Seeds, size, steps, CFG, sampler, tiling, negative prompt and chaos all survive the round trip."""
    original = parse_prompt(prompt, DEFAULTS).to_request(base_seed=777, model=MODEL)
    made = reproduce(original, DEFAULTS, {}, MODEL)
    assert made.notes == ()
    again = _parse_line(made.line).to_request(base_seed=0, model=MODEL)
    assert again == original


def test_a_cfg_no_flag_can_give_is_said_in_words() -> None:
    """A guidance scale outside what --stylize reaches is named in a note instead of silently dropped."""
    request = parse_prompt("x --seed 1", DEFAULTS).to_request(base_seed=0, model=MODEL)
    odd = type(request)(**{**request.__dict__, "guidance_scale": 20.0})
    assert any("20" in note for note in reproduce(odd, DEFAULTS, {}, MODEL).notes)


def test_a_named_model_is_given_as_the_model_option() -> None:
    """A job on one of the server's other models names it with `model:`; one no longer offered gets a note."""
    request = parse_prompt("x --seed 1", DEFAULTS).to_request(base_seed=0, model="org/anime")
    assert reproduce(request, DEFAULTS, {"anime": "org/anime"}, MODEL).line.endswith(" model: anime")
    assert reproduce(request, DEFAULTS, {}, MODEL).notes


def test_a_variation_line_makes_the_image_it_started_from() -> None:
    """A variation's line carries its tile's seed as --seed, so tile 1 of that grid is the varied image."""
    parent = parse_prompt("x --seed 40", DEFAULTS).to_request(base_seed=0, model=MODEL)
    child = variation_request(parent, 3, strength=0.15, variation_base_seed=5)
    made = reproduce(child, DEFAULTS, {}, MODEL)
    assert _parse_line(made.line).to_request(base_seed=0, model=MODEL).seeds[0] == 42
    assert any("V1" in note for note in made.notes)


def test_the_sampler_is_named_as_automatic1111_names_it() -> None:
    """Info and its line name samplers as A1111 writes them (`DPM++ 2M Karras`), and the line parses back."""
    request = parse_prompt("x --sampler dpmpp_2m_karras", DEFAULTS).to_request(base_seed=1, model=MODEL)
    made = reproduce(request, DEFAULTS, {}, MODEL)
    assert "--sampler DPM++_2M_Karras" in made.line
    assert _parse_line(made.line).sampler == "dpmpp_2m_karras"


@pytest.mark.parametrize(("fast_default", "suffix"), [("draft", ""), ("", " model: draft")])
def test_a_fast_job_line_says_fast(fast_default: str, suffix: str) -> None:
    """A fast job's line has --fast instead of its steps and sampler (--fast refuses them), and `model:` when the
    fast model is not the one --fast picks; parsed and made fast again, it is the same request."""
    from generation.fast import FewStep, fast_request

    few = FewStep(model="fast/model", lora="lcm.safetensors", sampler="lcm", steps=4)
    original = fast_request(parse_prompt("a kite --seed 5 --ar 3:2 --tile", DEFAULTS).to_request(base_seed=0,
                                                                                                 model=MODEL), few)
    made = reproduce(original, DEFAULTS, {}, MODEL, fast="draft", fast_default=fast_default)
    assert made.notes == () and made.line.endswith(suffix)
    spec = _parse_line(made.line.removesuffix(suffix))
    assert spec.fast and fast_request(spec.to_request(base_seed=0, model=MODEL), few) == original
