"""Image-to-image requests: U (refine/upscale) of a grid tile, and prompts with an uploaded init image.

A refine resizes the parent tile 2x with Lanczos and runs img2img at a low strength with its own seed, so it adds
detail without changing the composition. Builders here are pure; PIL is imported only to prepare an init image.
"""

import dataclasses
import math
from typing import Any

from generation.errors import RequestError
from generation.requests import (
    ASPECT_LIMIT,
    MAX_SEED,
    MIN_SIDE,
    SIDE_MULTIPLE,
    GenerationKind,
    GenerationRequest,
    fit_size,
    tile_seeds,
)

REFINE_STRENGTH = 0.3
IMG2IMG_STRENGTH = 0.6


def img2img_steps(steps: int, strength: float) -> int:
    """Steps for an img2img run that denoises at least once: diffusers runs int(steps * strength) of them.

    A few-step parent (a fast model's 2-4 steps) at strength 0.3 would otherwise run none and fail.
    """
    return max(steps, math.ceil(1 / strength)) if strength > 0 else steps


def refine_request(
    parent: GenerationRequest,
    tile: int,
    init_image: str,
    seed: int,
    scale: int = 2,
    strength: float = REFINE_STRENGTH,
    max_side: int = 2048,
) -> GenerationRequest:
    """One image: `parent`'s tile (its file at `init_image`) resized `scale`x and refined with `seed`."""
    # 1. Which tile, and how big the result would be.
    if not 1 <= tile <= parent.num_images:
        raise RequestError(f"tile must be from 1 to {parent.num_images}, got {tile!r}")
    if scale not in (1, 2, 3, 4):
        raise RequestError(f"scale must be 1, 2, 3 or 4, got {scale!r}")
    width, height = parent.width * scale, parent.height * scale
    if max(width, height) > max_side:
        raise RequestError(
            f"refined size {width}x{height} is over the limit of {max_side} pixels per side "
            f"(tile {parent.width}x{parent.height}, scale {scale})"
        )
    if not 0 <= seed <= MAX_SEED:
        raise RequestError(f"seed must be from 0 to {MAX_SEED}, got {seed!r}")
    # 2. Same prompt and sampling, a fresh seed, no variation noise (img2img draws its own).
    return dataclasses.replace(
        parent,
        kind=GenerationKind.refine,
        seeds=(seed,),
        variation_seeds=(),
        variation_strength=0.0,
        variation_chain=(),
        init_image=init_image,
        strength=strength,
        width=width,
        height=height,
        chaos=None,
        mask_box=None,
        num_inference_steps=img2img_steps(parent.num_inference_steps, strength),
    )


def check_image_aspect(width: int, height: int) -> None:
    """RequestError unless an image's sides are positive and within the aspect limit that prompts have too."""
    if not (width > 0 and height > 0 and 1 / ASPECT_LIMIT <= width / height <= ASPECT_LIMIT):
        raise RequestError(f"image is {width}x{height}; its sides must be within 1:{ASPECT_LIMIT} to {ASPECT_LIMIT}:1")


def img2img_request(
    base: GenerationRequest,
    init_image: str,
    image_size: tuple[int, int],
    strength: float = IMG2IMG_STRENGTH,
    max_pixels: int = 512 * 512,
) -> GenerationRequest:
    """`base` (a txt2img request from the user's prompt) redone from an uploaded image with the upload's aspect."""
    image_width, image_height = image_size
    check_image_aspect(image_width, image_height)
    width, height = fit_size(image_width, image_height, max_pixels)
    first_seed = base.seeds[0]
    return dataclasses.replace(
        base,
        kind=GenerationKind.img2img,
        seeds=tile_seeds(first_seed, base.num_images),  # a --chaos base repeats one seed
        variation_seeds=(),
        variation_strength=0.0,
        variation_chain=(),
        init_image=init_image,
        strength=strength,
        width=width,
        height=height,
        chaos=None,
        mask_box=None,
    )


def upload_upscale_size(image_size: tuple[int, int], max_side: int, scale: int = 2) -> tuple[int, int]:
    """`scale` x the upload's size, multiples of 8, shrunk to fit `max_side`; RequestError if it would not grow."""
    image_width, image_height = image_size
    check_image_aspect(image_width, image_height)
    # 1. Twice the upload, or as close as the per-side cap allows.
    factor = min(float(scale), max_side / max(image_width, image_height))
    width, height = (max(MIN_SIDE, int(side * factor) // SIDE_MULTIPLE * SIDE_MULTIPLE)
                     for side in (image_width, image_height))
    # 2. An "upscale" that would not enlarge the image is refused rather than quietly shrinking it.
    if width <= image_width and height <= image_height:
        raise RequestError(
            f"image is already {image_width}x{image_height}; an upscale may reach at most {max_side} pixels per side"
        )
    return width, height


def upload_upscale_request(
    base: GenerationRequest,
    init_image: str,
    image_size: tuple[int, int],
    seed: int,
    strength: float = REFINE_STRENGTH,
    max_side: int = 2048,
) -> GenerationRequest:
    """An uploaded image at twice its own size (within `max_side`), refined like a U button's tile."""
    width, height = upload_upscale_size(image_size, max_side)
    if not 0 <= seed <= MAX_SEED:
        raise RequestError(f"seed must be from 0 to {MAX_SEED}, got {seed!r}")
    return dataclasses.replace(
        base,
        kind=GenerationKind.refine,
        seeds=(seed,),
        variation_seeds=(),
        variation_strength=0.0,
        variation_chain=(),
        init_image=init_image,
        strength=strength,
        width=width,
        height=height,
        chaos=None,
        mask_box=None,
        num_inference_steps=img2img_steps(base.num_inference_steps, strength),
    )


def load_init_image(path: str, width: int, height: int) -> Any:
    """The init image at `path` as RGB, resized to width x height with Lanczos when its size differs."""
    from PIL import Image

    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image
