"""Seed-locked variations and --chaos grids: closeness, difference, and reproduction by plain diffusers."""

import dataclasses

import pytest

from generation.errors import RequestError
from generation.outputs import write_outputs
from generation.requests import GenerationKind
from generation.variations import (
    VARIATION_STRONG,
    VARIATION_SUBTLE,
    chaos_strength,
    variation_request,
)
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters, tile_noise

ONE_LEVEL = 1.0


def test_variation_request_keeps_tile_seed_and_prompt():
    """V2 of a grid keeps tile 2's seed and the prompt, with four consecutive variation seeds."""
    child = variation_request(tiny_request(), tile=2, strength=VARIATION_SUBTLE, variation_base_seed=900)
    assert child.kind == GenerationKind.variation
    assert child.seeds == (43, 43, 43, 43)
    assert child.variation_seeds == (900, 901, 902, 903)
    assert child.prompt == tiny_request().prompt and child.variation_chain == ()


def test_variation_of_variation_records_the_chain():
    """A variation of a variation tile appends that tile's variation seed and strength to the chain."""
    first = variation_request(tiny_request(), tile=1, strength=0.2, variation_base_seed=900)
    second = variation_request(first, tile=3, strength=0.1, variation_base_seed=500)
    assert second.seeds == (42,) * 4
    assert second.variation_chain == ((902, 0.2),)
    assert second.variation_seeds == (500, 501, 502, 503)


@pytest.mark.parametrize("tile", [0, 5, -1])
def test_variation_request_rejects_bad_tile(tile):
    """A tile outside 1-4 raises RequestError naming the tile."""
    with pytest.raises(RequestError, match=f"got {tile}"):
        variation_request(tiny_request(), tile=tile, strength=0.1, variation_base_seed=1)


def test_variation_at_strength_zero_reproduces_parent_tile(engine, grid_result):
    """With strength 0, every variation image equals the parent tile."""
    child = variation_request(grid_result.request, tile=2, strength=0.0, variation_base_seed=7)
    result = engine.run(child)
    assert max(mean_abs_difference(grid_result.images[1], image) for image in result.images) < ONE_LEVEL


def test_variations_differ_from_each_other_and_parent(engine, grid_result):
    """Strong variations differ from the parent tile and from one another."""
    result = engine.run(variation_request(grid_result.request, 2, VARIATION_STRONG, variation_base_seed=7))
    parent = grid_result.images[1]
    assert all(mean_abs_difference(parent, image) > 1 for image in result.images)
    assert mean_abs_difference(result.images[0], result.images[1]) > 1


def test_subtle_variations_stay_closer_than_strong(engine, grid_result):
    """Subtle variations are nearer the parent tile than strong ones, on average."""
    parent = grid_result.images[0]
    subtle = engine.run(variation_request(grid_result.request, 1, VARIATION_SUBTLE, variation_base_seed=7))
    strong = engine.run(variation_request(grid_result.request, 1, VARIATION_STRONG, variation_base_seed=7))
    distance = lambda result: sum(mean_abs_difference(parent, image) for image in result.images)
    assert distance(subtle) < distance(strong)


def test_variation_of_variation_stays_near_its_parent_tile(engine, grid_result):
    """A subtle variation of a variation tile is closer to that tile than to the grid tile it came from."""
    first = engine.run(variation_request(grid_result.request, 1, VARIATION_STRONG, variation_base_seed=7))
    second = engine.run(variation_request(first.request, 3, VARIATION_SUBTLE, variation_base_seed=99))
    to_parent = sum(mean_abs_difference(first.images[2], image) for image in second.images)
    to_root = sum(mean_abs_difference(grid_result.images[0], image) for image in second.images)
    assert to_parent < to_root


def _reproduce(params, plain_txt2img):
    """A plain diffusers image from parsed PNG parameters, initial noise rebuilt by the reference convention."""
    noise, generator = tile_noise(params, (1, 4, params.height // 8, params.width // 8))
    return plain_txt2img(
        params.prompt, negative_prompt=params.negative_prompt or None, height=params.height, width=params.width,
        num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
        generator=generator, latents=noise,
    ).images[0]


def test_variation_tiles_reproduced_by_plain_diffusers(engine, grid_result, plain_txt2img, tmp_path):
    """Each tile of a variation-of-a-variation grid is reproduced from its PNG metadata alone."""
    first = engine.run(variation_request(grid_result.request, 4, VARIATION_STRONG, variation_base_seed=7))
    second = engine.run(variation_request(first.request, 2, VARIATION_SUBTLE, variation_base_seed=99))
    for image, path in zip(second.images, write_outputs(second, tmp_path).tiles):
        assert mean_abs_difference(image, _reproduce(read_parameters(path), plain_txt2img)) < ONE_LEVEL


def test_chaos_strength_spans_subtle_to_independent():
    """--chaos 0 maps to strength 0.1 and --chaos 100 to 1.0 (independent tiles)."""
    assert (chaos_strength(0), chaos_strength(50), chaos_strength(100)) == (0.1, 0.55, 1.0)


def test_chaos_grid_tile_one_is_the_root_seed(engine, grid_result):
    """In a --chaos grid, tile 1 is the root seed's own image and the others are variations of it."""
    request = dataclasses.replace(
        grid_result.request, seeds=(42,) * 4, variation_seeds=(42, 43, 44, 45), variation_strength=0.3, chaos=22
    )
    result = engine.run(request)
    assert mean_abs_difference(result.images[0], grid_result.images[0]) < ONE_LEVEL
    assert "Chaos: 22" in result.infotexts[1]


def test_chaos_tiles_reproduced_by_plain_diffusers(engine, plain_txt2img, tmp_path):
    """Tiles of a --chaos grid are reproduced from their PNG metadata alone."""
    from generation.prompt_params import parse_prompt

    request = parse_prompt("a lighthouse --chaos 30 --seed 5 --steps 3 --ar 1:1").to_request(0)
    result = engine.run(dataclasses.replace(request, width=64, height=64))
    for image, path in zip(result.images, write_outputs(result, tmp_path).tiles):
        assert mean_abs_difference(image, _reproduce(read_parameters(path), plain_txt2img)) < ONE_LEVEL


def test_reroll_of_a_chaos_grid_rebuilds_its_chaos_seeds():
    """A re-roll of a --chaos grid is the same --chaos grid around the new seed, not a blend with the old seeds."""
    from generation.prompt_params import parse_prompt
    from generation.variations import reroll_request

    parent = parse_prompt("a lighthouse --chaos 30 --seed 5").to_request(0)
    reroll = reroll_request(parent, 900)
    assert reroll == parse_prompt("a lighthouse --chaos 30 --seed 900").to_request(0)
    assert (reroll.seeds, reroll.variation_seeds, reroll.chaos) == ((900,) * 4, (900, 901, 902, 903), 30)
    assert reroll.variation_strength == chaos_strength(30)


def test_reroll_of_a_variation_grid_keeps_the_parent_tile_noise():
    """A re-roll of a V grid keeps the tile's seed and chain and draws new variation seeds."""
    from generation.variations import reroll_request

    grid = variation_request(variation_request(tiny_request(), 1, 0.2, 900), 3, 0.1, 500)
    reroll = reroll_request(grid, 70)
    assert (reroll.seeds, reroll.variation_chain) == (grid.seeds, grid.variation_chain)
    assert reroll.variation_seeds == (70, 71, 72, 73)


def test_reroll_seeds_stay_within_32_bits():
    """A re-roll from the top seed wraps its tile seeds to 0, 1, 2."""
    from generation.variations import reroll_request

    assert reroll_request(tiny_request(), 2**32 - 1).seeds == (4294967295, 0, 1, 2)


def test_chaos_reroll_is_reproducible(engine, plain_txt2img, tmp_path):
    """The re-rolled --chaos grid equals a fresh grid with that seed and is reproduced from its PNGs alone."""
    from generation.prompt_params import parse_prompt
    from generation.variations import reroll_request

    def tiny(text):
        return dataclasses.replace(parse_prompt(text).to_request(0), width=64, height=64)

    rerolled = engine.run(reroll_request(tiny("a lighthouse --chaos 40 --seed 5 --steps 3"), 77))
    fresh = engine.run(tiny("a lighthouse --chaos 40 --seed 77 --steps 3"))
    assert [mean_abs_difference(a, b) for a, b in zip(rerolled.images, fresh.images)] == [0.0] * 4
    for image, path in zip(rerolled.images, write_outputs(rerolled, tmp_path).tiles):
        params = read_parameters(path)
        assert (params.chaos, params.seed, params.variation_strength) == (40, 77, chaos_strength(40))
        assert mean_abs_difference(image, _reproduce(params, plain_txt2img)) < ONE_LEVEL
