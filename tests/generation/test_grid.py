"""make_grid: tile 1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right."""

import pytest
from PIL import Image

from generation.grid import make_grid

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]


def test_grid_places_tiles_row_major():
    """Each tile's colour appears in its quadrant of the 2x2 grid."""
    grid = make_grid([Image.new("RGB", (10, 20), colour) for colour in COLOURS])
    assert grid.size == (20, 40)
    corners = [grid.getpixel((5, 10)), grid.getpixel((15, 10)), grid.getpixel((5, 30)), grid.getpixel((15, 30))]
    assert corners == COLOURS


def test_single_image_is_its_own_grid():
    """A one-image list returns that image."""
    image = Image.new("RGB", (8, 8))
    assert make_grid([image]) is image


def test_mixed_sizes_are_refused():
    """Tiles of different sizes raise ValueError naming the sizes."""
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        make_grid([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 8))])
