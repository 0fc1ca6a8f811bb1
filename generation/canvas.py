"""Vary (Region), Zoom Out, Pan and Make Square: canvas and mask geometry, request builders, and the canvas images.

Conventions (recorded in every PNG as `Source image`, `Inpaint box` or `Outpaint box`, and `Denoising strength`):
- inpaint (Vary (Region)): the source is resized (Lanczos) to width x height; the box `x,y,w,h` (pixels) is repainted.
- outpaint (Zoom Out, Pan, Make Square): a width x height canvas filled with mid-grey (127, 127, 127) gets the source
  resized (Lanczos) into the box `x,y,w,h`; everything outside the box is painted.
- The mask is white (255) where pixels are painted, black elsewhere. The inpainting pipeline runs with one CPU
  generator per image seeded with its seed; its output is then pasted over the canvas through the mask, so pixels
  outside the painted area are exactly the canvas's (`Image.composite(output, canvas, mask)`).
Sizes are multiples of 8, scaled down to the pixel budget, and no side above `max_side`. Builders are pure; PIL is
imported only by the image functions.
"""

import dataclasses
import math
import re
from typing import Any

from generation.errors import RequestError
from generation.requests import ASPECT_LIMIT, MIN_SIDE, GenerationKind, GenerationRequest, tile_seeds

REGION_PRESETS = {  # x, y, w, h in percent of the image
    "left": (0, 0, 50, 100), "right": (50, 0, 50, 100), "top": (0, 0, 100, 50), "bottom": (0, 50, 100, 50),
    "centre": (25, 25, 50, 50), "center": (25, 25, 50, 50),
}
PAN_DIRECTIONS = ("left", "right", "up", "down")
GREY = (127, 127, 127)
CANVAS_STRENGTH = 1.0  # painted areas start from pure noise; kept areas are pasted back unchanged
GRID = 4


def parse_region(text: str) -> tuple[float, float, float, float]:
    """A region preset (left, right, top, bottom, centre) or `x,y,w,h` in percent; RequestError naming the problem."""
    value = text.strip().lower()
    if value in REGION_PRESETS:
        return tuple(float(v) for v in REGION_PRESETS[value])
    parts = re.split(r"[,\s]+", value)
    try:
        x, y, w, h = (float(part.rstrip("%")) for part in parts)
    except ValueError:
        raise RequestError(f"region {text!r}: use left, right, top, bottom, centre, or x,y,w,h in percent "
                           "(e.g. 10,20,50,40)") from None
    if not (0 <= x < 100 and 0 <= y < 100 and w > 0 and h > 0 and x + w <= 100 and y + h <= 100):
        raise RequestError(f"region {text!r}: x,y,w,h are percentages with x+w and y+h at most 100 and w, h above 0")
    return x, y, w, h


def _down8(value: float) -> int:
    return max(8, int(value) // 8 * 8)


def _fit(width: float, height: float, max_pixels: int, max_side: int) -> float:
    """The scale (at most 1) that brings width x height within the pixel budget and the side limit.

    The short side never drops below the model's minimum (64), even if that takes a little more than the budget.
    """
    scale = min(1.0, math.sqrt(max_pixels / (width * height)), max_side / max(width, height))
    return max(scale, min(1.0, MIN_SIDE / min(width, height)))


def _canvas_request(source: GenerationRequest, kind: GenerationKind, init_image: str, size: tuple[int, int],
                    box: tuple[int, int, int, int], seed: int, prompt: str | None) -> GenerationRequest:
    width, height = size
    if not 1 / ASPECT_LIMIT <= width / height <= ASPECT_LIMIT:
        raise RequestError(f"the result would be {width}x{height}; sides must stay within 1:{ASPECT_LIMIT} to "
                           f"{ASPECT_LIMIT}:1")
    return dataclasses.replace(
        source, kind=kind, prompt=prompt.strip() if prompt and prompt.strip() else source.prompt,
        seeds=tile_seeds(seed, GRID), variation_seeds=(), variation_strength=0.0, variation_chain=(), chaos=None,
        init_image=init_image, strength=CANVAS_STRENGTH, width=width, height=height, mask_box=box,
    )


def region_request(source: GenerationRequest, init_image: str, region: tuple[float, float, float, float], seed: int,
                   max_pixels: int, max_side: int, prompt: str | None = None) -> GenerationRequest:
    """Vary (Region): four candidates repainting `region` (percent) of the image `source` made, maybe with a new prompt."""
    scale = _fit(source.width, source.height, max_pixels, max_side)
    width, height = _down8(source.width * scale), _down8(source.height * scale)
    x, y, w, h = region
    left, top = int(width * x / 100) // 8 * 8, int(height * y / 100) // 8 * 8
    right = min(width, math.ceil(width * (x + w) / 100 / 8) * 8)
    bottom = min(height, math.ceil(height * (y + h) / 100 / 8) * 8)
    return _canvas_request(source, GenerationKind.inpaint, init_image, (width, height),
                           (left, top, right - left, bottom - top), seed, prompt)


def _outpaint(source: GenerationRequest, init_image: str, canvas: tuple[float, float], place: tuple[float, float],
              seed: int, max_pixels: int, max_side: int, prompt: str | None) -> GenerationRequest:
    """The source at `place` (its own pixels) on a `canvas`-sized area, all scaled together to the budget."""
    scale = _fit(canvas[0], canvas[1], max_pixels, max_side)
    width, height = _down8(canvas[0] * scale), _down8(canvas[1] * scale)
    box_w, box_h = min(width, _down8(source.width * scale)), min(height, _down8(source.height * scale))
    left = min(width - box_w, round(place[0] * scale / 8) * 8)
    top = min(height - box_h, round(place[1] * scale / 8) * 8)
    return _canvas_request(source, GenerationKind.outpaint, init_image, (width, height), (left, top, box_w, box_h),
                           seed, prompt)


def zoom_request(source: GenerationRequest, init_image: str, factor: float, seed: int, max_pixels: int,
                 max_side: int, prompt: str | None = None) -> GenerationRequest:
    """Zoom Out by `factor` (1.0-2.0): the image centred on a canvas `factor` times its size, the border painted."""
    if not (isinstance(factor, (int, float)) and 1.0 <= factor <= 2.0):
        raise RequestError(f"zoom factor must be a number from 1.0 to 2.0, got {factor!r}")
    if factor == 1.0:
        raise RequestError("zoom factor 1.0 leaves nothing to paint; use a factor above 1.0, up to 2.0")
    canvas = (source.width * factor, source.height * factor)
    place = ((canvas[0] - source.width) / 2, (canvas[1] - source.height) / 2)
    return _outpaint(source, init_image, canvas, place, seed, max_pixels, max_side, prompt)


def pan_request(source: GenerationRequest, init_image: str, direction: str, seed: int, max_pixels: int,
                max_side: int, prompt: str | None = None) -> GenerationRequest:
    """Pan: the canvas extended by half a side towards `direction` (left, right, up, down), the new strip painted."""
    if direction not in PAN_DIRECTIONS:
        raise RequestError(f"pan direction must be one of {', '.join(PAN_DIRECTIONS)}, got {direction!r}")
    w, h = source.width, source.height
    canvas = (w * 1.5, h) if direction in ("left", "right") else (w, h * 1.5)
    place = {"left": (w / 2, 0), "right": (0, 0), "up": (0, h / 2), "down": (0, 0)}[direction]
    return _outpaint(source, init_image, canvas, place, seed, max_pixels, max_side, prompt)


def square_request(source: GenerationRequest, init_image: str, seed: int, max_pixels: int, max_side: int,
                   prompt: str | None = None) -> GenerationRequest:
    """Make Square: a non-square image centred on a square canvas, the two bands painted."""
    if source.width == source.height:
        raise RequestError(f"the image is already square ({source.width}x{source.height})")
    side = max(source.width, source.height)
    place = ((side - source.width) / 2, (side - source.height) / 2)
    return _outpaint(source, init_image, (side, side), place, seed, max_pixels, max_side, prompt)


def canvas_images(request: GenerationRequest) -> tuple[Any, Any]:
    """(canvas RGB image, mask L image: 255 where painted) for an inpaint or outpaint request."""
    from PIL import Image

    with Image.open(request.init_image) as opened:
        source = opened.convert("RGB")
    x, y, w, h = request.mask_box
    size = (request.width, request.height)
    if request.kind == GenerationKind.inpaint:
        canvas = source.resize(size, Image.Resampling.LANCZOS) if source.size != size else source
        mask = Image.new("L", size, 0)
        mask.paste(255, (x, y, x + w, y + h))
    else:
        canvas = Image.new("RGB", size, GREY)
        canvas.paste(source.resize((w, h), Image.Resampling.LANCZOS) if source.size != (w, h) else source, (x, y))
        mask = Image.new("L", size, 255)
        mask.paste(0, (x, y, x + w, y + h))
    return canvas, mask


def paste_back(images: list[Any], canvas: Any, mask: Any) -> list[Any]:
    """Each output with the canvas's own pixels wherever the mask is black (nothing outside the area changes)."""
    from PIL import Image

    return [Image.composite(image.convert("RGB"), canvas, mask) for image in images]


OPERATIONS = ("zoom2", "zoom1.5", "zoom", "pan_left", "pan_right", "pan_up", "pan_down", "square")


def outpaint_request(source: GenerationRequest, init_image: str, operation: str, seed: int, max_pixels: int,
                     max_side: int, factor: float | None = None, prompt: str | None = None) -> GenerationRequest:
    """The request behind a button (or Custom Zoom, with `factor`) under an upscaled image: one of OPERATIONS."""
    if operation in ("zoom2", "zoom1.5"):
        return zoom_request(source, init_image, float(operation[4:]), seed, max_pixels, max_side, prompt)
    if operation == "zoom":
        return zoom_request(source, init_image, factor, seed, max_pixels, max_side, prompt)
    if operation.startswith("pan_"):
        return pan_request(source, init_image, operation[4:], seed, max_pixels, max_side, prompt)
    if operation == "square":
        return square_request(source, init_image, seed, max_pixels, max_side, prompt)
    raise RequestError(f"unknown canvas operation {operation!r}; choose one of {', '.join(OPERATIONS)}")
