"""Named samplers: A1111's names in and out, `default` resolved, and every sampler reproduced by plain diffusers."""

import pytest

from generation.metadata import infotext, parse_infotext
from generation.outputs import write_outputs
from generation.prompt_params import parse_prompt
from generation.samplers import SAMPLER_NAMES, resolve_sampler
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import A1111_SCHEDULERS, read_parameters, scheduler_for, tile_noise

ONE_LEVEL = 1.0
NAMED = [name for name in SAMPLER_NAMES if name != "default"]


@pytest.mark.parametrize(("spelling", "expected"), [
    ("Euler a", "euler_a"), ("euler_a", "euler_a"), ('"Euler a"', "euler_a"), ("EULER_A", "euler_a"),
    ("DPM++ 2M Karras", "dpmpp_2m_karras"), ("DPM++_2M_Karras", "dpmpp_2m_karras"), ("'dpm++ 2m sde'", "dpmpp_2m_sde"),
    ("LMS", "lms"), ("k_lms", "lms"), ("PLMS", "pndm"), ("DPM2 a Karras", "dpm2_a_karras"), ("default", "default"),
])
def test_resolve_accepts_ids_and_a1111_names(spelling, expected):
    """Short ids and A1111's names, quoted or with underscores for spaces, resolve to the same sampler."""
    assert resolve_sampler(spelling) == expected


def test_resolve_reads_a1111_schedule_type():
    """`Sampler: DPM++ 2M` with `Schedule type: Karras` is the Karras variant; `Automatic` is the plain one."""
    assert resolve_sampler("DPM++ 2M", "Karras") == "dpmpp_2m_karras"
    assert resolve_sampler("DPM++ 2M", "Automatic") == "dpmpp_2m"


def test_unknown_sampler_lists_the_known_names():
    """An unknown name raises ValueError naming it and listing A1111's names."""
    with pytest.raises(ValueError, match=r"unknown sampler 'DPM fast'; choose one of Euler, Euler a, LMS"):
        resolve_sampler("DPM fast")


@pytest.mark.parametrize("text", ['a cat --sampler "DPM++ 2M Karras"', "a cat --sampler DPM++_2M_Karras",
                                  "a cat --sampler dpmpp_2m_karras"])
def test_sampler_flag_takes_a1111_names(text):
    """--sampler accepts A1111's name quoted or with underscores, and the short id."""
    assert parse_prompt(text).sampler == "dpmpp_2m_karras"


@pytest.mark.parametrize("name", NAMED)
def test_infotext_writes_a1111_names_that_parse_back(name):
    """Every sampler is written as A1111 writes it (a name the reference table knows) and parses back to itself."""
    parsed = parse_infotext(infotext(tiny_request(sampler=name), 0))
    assert (parsed.sampler, parsed.schedule_type) in A1111_SCHEDULERS
    assert parsed.sampler_id == name


def test_karras_is_written_as_schedule_type():
    """DPM++ 2M Karras is recorded as `Sampler: DPM++ 2M, Schedule type: Karras`, A1111's current form."""
    assert "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale" in infotext(tiny_request(sampler="dpmpp_2m_karras"), 0)


def test_default_sampler_is_recorded_as_what_ran(engine):
    """Sampler `default` on SD 1.5's scheduler (PNDM without PRK steps) is recorded as PNDM, never as `default`."""
    result = engine.run(tiny_request(seeds=(3,)))
    assert result.request.sampler == "pndm"
    assert "Sampler: PNDM," in result.infotexts[0]


def test_unnamed_default_scheduler_is_recorded_by_class():
    """A model scheduler that is none of the named samplers is recorded by its diffusers class name."""
    assert "Sampler: DEISMultistepScheduler," in infotext(tiny_request(), 0, scheduler="DEISMultistepScheduler")


@pytest.mark.parametrize("name", NAMED)
def test_every_sampler_reproduced_by_plain_diffusers(engine, plain_txt2img, tmp_path, name):
    """Both tiles of a 2-image batch are reproduced, one call each, by plain diffusers built from the PNG alone."""
    result = engine.run(tiny_request(seeds=(7, 4294967295), sampler=name))
    model_scheduler = plain_txt2img.scheduler
    try:
        for image, path in zip(result.images, write_outputs(result, tmp_path).tiles):
            params = read_parameters(path)
            plain_txt2img.scheduler = scheduler_for(params, model_scheduler)
            noise, generator = tile_noise(params, (1, 4, params.height // 8, params.width // 8))
            plain = plain_txt2img(
                params.prompt, height=params.height, width=params.width, generator=generator, latents=noise,
                num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
            ).images[0]
            assert mean_abs_difference(image, plain) < ONE_LEVEL, path.name
    finally:
        plain_txt2img.scheduler = model_scheduler
