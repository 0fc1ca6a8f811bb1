"""`python -m generation imagine`: writes a reproducible grid; bad input is one stderr line and exit 2."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

from generation.cli import main
from tests.generation.conftest import mean_abs_difference
from tests.generation.reference import read_parameters


@pytest.fixture(scope="module")
def cli_grid(tiny_model_dir, tmp_path_factory):
    """The grid path written by one CLI run on the tiny model."""
    out = tmp_path_factory.mktemp("cli") / "grid.png"
    argv = ["imagine", "a lighthouse at dusk", "--seed", "42", "--out", str(out), "--model", str(tiny_model_dir),
            "--steps", "3", "--width", "64", "--height", "64", "--negative", "fog"]
    assert main(argv) == 0
    return out


def test_cli_writes_grid_and_tiles(cli_grid):
    """The grid is 2x2 tiles of the asked size, with tile files beside it."""
    with Image.open(cli_grid) as grid:
        assert grid.size == (128, 128)
    assert sorted(p.name for p in cli_grid.parent.iterdir()) == [
        "grid-tile-1.png", "grid-tile-2.png", "grid-tile-3.png", "grid-tile-4.png", "grid.png"
    ]


def test_cli_grid_metadata_reproduces_the_tiles(cli_grid, plain_txt2img):
    """Plain diffusers with seeds S..S+3 from the grid's metadata reproduces every quadrant."""
    params = read_parameters(cli_grid)
    plain = plain_txt2img(
        params.prompt, negative_prompt=params.negative_prompt, num_images_per_prompt=4, height=params.height,
        width=params.width, num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
        generator=[torch.Generator("cpu").manual_seed(params.seed + i) for i in range(4)],
    ).images
    with Image.open(cli_grid) as grid:
        grid.load()
    quadrants = [grid.crop((x, y, x + 64, y + 64)) for y in (0, 64) for x in (0, 64)]
    assert max(mean_abs_difference(a, b) for a, b in zip(quadrants, plain)) < 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["--width", "100"], "width must be a multiple of 8 from 64 to 4096, got 100"),
    (["--steps", "many"], "argument --steps: invalid int value: 'many'"),
    (["--model", "/no/such/model"], "model folder /no/such/model does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    """Bad arguments print one clear stderr line, no traceback, and exit with status 2."""
    argv = ["imagine", "a cat", "--model", "/no/such/model", "--out", str(tmp_path / "g.png"), *args]
    done = subprocess.run([sys.executable, "-m", "generation", *argv], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert "Traceback" not in done.stderr
