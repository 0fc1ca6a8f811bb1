"""Writing a result to disk: one PNG per image, each with its `parameters` chunk, plus the grid for 4 images."""

from dataclasses import dataclass
from pathlib import Path

from generation.grid import make_grid
from generation.requests import GenerationResult


@dataclass(frozen=True)
class OutputFiles:
    """Paths written: `primary` is what to post (grid.png for a grid, tile-1.png for a single image)."""

    primary: Path
    tiles: list[Path]
    grid: Path | None


def save_png(image, path: Path, parameters: str) -> Path:
    """Save `image` as PNG at `path` with an A1111 `parameters` text chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    image.save(path, format="PNG", pnginfo=info)
    return path


def write_outputs(result: GenerationResult, out_dir: Path) -> OutputFiles:
    """Write tile-1..N.png and, for 4 images, grid.png (carrying tile 1's parameters, as A1111 grids do)."""
    # 1. Tiles.
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tiles = [
        save_png(image, out_dir / f"tile-{number}.png", text)
        for number, (image, text) in enumerate(zip(result.images, result.infotexts), start=1)
    ]
    # 2. The grid, when there is one.
    if len(result.images) != 4:
        return OutputFiles(primary=tiles[0], tiles=tiles, grid=None)
    grid = save_png(make_grid(result.images), out_dir / "grid.png", result.infotexts[0])
    return OutputFiles(primary=grid, tiles=tiles, grid=grid)
