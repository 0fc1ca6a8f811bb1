"""Our PNGs read by a third-party AUTOMATIC1111 metadata parser (sd-parsers from PyPI), not only by our own."""

import pytest
from sd_parsers import ParserManager
from sd_parsers.data import Generators

from generation.outputs import write_outputs
from tests.generation.conftest import tiny_request


@pytest.fixture(scope="module")
def karras_tiles(engine, tmp_path_factory):
    """Tiles of a DPM++ 2M Karras grid from the top seed, with a negative prompt, written as PNGs."""
    request = tiny_request(seeds=(4294967295, 0, 1, 2), sampler="dpmpp_2m_karras", negative_prompt="fog, rain",
                           guidance_scale=6.5)
    return write_outputs(engine.run(request), tmp_path_factory.mktemp("a1111")).tiles


def test_sd_parsers_reads_our_png_as_automatic1111(karras_tiles):
    """sd-parsers recognises the PNG as A1111's and reads prompt, negative prompt, steps, seed, CFG and sampler."""
    info = ParserManager().parse(karras_tiles[0])
    assert info is not None and info.generator == Generators.AUTOMATIC1111
    sampler = info.samplers[0]
    assert (info.full_prompt, info.full_negative_prompt) == ("a lighthouse at dusk", "fog, rain")
    assert sampler.name == "DPM++ 2M"
    assert sampler.parameters == {"steps": "3", "seed": "4294967295", "cfg_scale": "6.5", "scheduler": "Karras"}
    assert info.metadata["Size"] == "64x64"


def test_sd_parsers_sees_32_bit_tile_seeds(karras_tiles):
    """The tile after seed 4294967295 records seed 0, which A1111 tools accept, not 4294967296."""
    seeds = [ParserManager().parse(path).samplers[0].parameters["seed"] for path in karras_tiles]
    assert seeds == ["4294967295", "0", "1", "2"]
