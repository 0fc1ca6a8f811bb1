"""write_outputs and progress previews: files on disk with their metadata."""

import torch
from PIL import Image

from generation.outputs import write_outputs
from generation.progress import latents_to_preview, preview_jpeg, write_preview
from generation.requests import GenerationResult
from tests.generation.conftest import tiny_request


def _open(path):
    """The image at `path`, fully loaded and its file closed."""
    with Image.open(path) as image:
        image.load()
        return image


def _result(count: int) -> GenerationResult:
    request = tiny_request(seeds=tuple(range(count)))
    images = [Image.new("RGB", (64, 64), (index * 60, 0, 0)) for index in range(count)]
    return GenerationResult(images=images, infotexts=[f"p\nSteps: 3, Seed: {i}" for i in range(count)], request=request)


def test_four_images_write_tiles_and_grid(tmp_path):
    """Four images give tile-1..4.png and grid.png; the grid is primary."""
    files = write_outputs(_result(4), tmp_path)
    assert [path.name for path in files.tiles] == ["tile-1.png", "tile-2.png", "tile-3.png", "tile-4.png"]
    assert files.primary == files.grid == tmp_path / "grid.png"
    assert _open(files.grid).size == (128, 128)


def test_each_tile_carries_its_own_parameters(tmp_path):
    """Every tile PNG holds its own image's infotext in the `parameters` chunk."""
    files = write_outputs(_result(4), tmp_path)
    assert [_open(path).text["parameters"] for path in files.tiles] == _result(4).infotexts


def test_single_image_is_primary_without_grid(tmp_path):
    """One image gives tile-1.png as primary and no grid."""
    files = write_outputs(_result(1), tmp_path)
    assert (files.primary, files.grid, files.tiles) == (tmp_path / "tile-1.png", None, [tmp_path / "tile-1.png"])


def test_latent_preview_is_a_small_grid():
    """Four 8x8 latents become a 2x2 RGB preview at half the image size."""
    preview = latents_to_preview(torch.zeros(4, 4, 8, 8))
    assert (preview.mode, preview.size) == ("RGB", (64, 64))


def test_preview_jpeg_written_atomically(tmp_path):
    """write_preview leaves one JPEG file and no temporary files."""
    path = write_preview(Image.new("RGB", (32, 32)), tmp_path / "preview.jpg")
    assert preview_jpeg(Image.new("RGB", (8, 8)))[:2] == b"\xff\xd8"
    assert [p.name for p in tmp_path.iterdir()] == ["preview.jpg"] and _open(path).format == "JPEG"
