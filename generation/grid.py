"""Contact sheets: tiles laid out row-major, two per row (1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right)."""

import math
from typing import Any


def make_grid(images: list[Any], columns: int = 2) -> Any:
    """One image holding `images` row-major, `columns` per row; a single image is returned as is."""
    from PIL import Image

    # 1. Check the tiles.
    if not images:
        raise ValueError("make_grid needs at least one image, got none")
    if len(images) == 1:
        return images[0]
    sizes = {image.size for image in images}
    if len(sizes) != 1:
        raise ValueError(f"grid tiles must share one size, got {sorted(sizes)}")
    # 2. Paste them row by row.
    width, height = images[0].size
    rows = math.ceil(len(images) / columns)
    grid = Image.new("RGB", (columns * width, rows * height))
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid.paste(image.convert("RGB"), (column * width, row * height))
    return grid
