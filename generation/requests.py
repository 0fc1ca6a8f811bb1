"""What to generate and what came out: frozen, JSON-safe dataclasses (no torch here).

The bot stores `GenerationRequest.to_dict()` as a job's params; the worker rebuilds it with `from_dict`.
"""

import enum
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from generation.errors import RequestError
from generation.samplers import resolve_sampler

SEED_RANGE = 2**32  # A1111 and Midjourney seeds are 32-bit; tile offsets wrap around (see tile_seeds)
MAX_SEED = SEED_RANGE - 1
MAX_IMAGES = 8
MIN_SIDE, MAX_SIDE, SIDE_MULTIPLE = 64, 4096, 8
MAX_STEPS = 200
MAX_GUIDANCE_SCALE = 50.0
ASPECT_LIMIT = 4  # images between 1:4 and 4:1


class GenerationKind(str, enum.Enum):
    """How the images are made."""

    txt2img = "txt2img"  # a fresh grid from noise
    variation = "variation"  # a parent tile's noise blended with new variation seeds (seed-locked)
    refine = "refine"  # a parent tile resized and refined through img2img at a low strength
    img2img = "img2img"  # an uploaded image refined through img2img
    inpaint = "inpaint"  # Vary (Region): a box of an image repainted (generation.canvas)
    outpaint = "outpaint"  # Zoom Out, Pan, Make Square: an image on a larger canvas, the rest painted


# Kinds that start from an image file (init_image) rather than from noise alone.
IMAGE_KINDS = (GenerationKind.refine, GenerationKind.img2img, GenerationKind.inpaint, GenerationKind.outpaint)


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """Everything needed to reproduce a set of images; one output image per entry of `seeds`.

    Initial noise of image i: start from the noise of `seeds[i]`, blend in every `(seed, strength)` link of
    `variation_chain` in order (spherical interpolation), then blend in `variation_seeds[i]` at
    `variation_strength` (see generation.variations).
    """

    kind: GenerationKind
    prompt: str
    seeds: tuple[int, ...]
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    num_inference_steps: int = 25
    guidance_scale: float = 7.0
    sampler: str = "default"
    tiling: bool = False
    variation_seeds: tuple[int, ...] = ()
    variation_strength: float = 0.0
    variation_chain: tuple[tuple[int, float], ...] = ()
    init_image: str | None = None
    strength: float = 0.0
    model: str = ""
    chaos: int | None = None  # recorded only: --chaos is realised through variation seeds and strength
    mask_box: tuple[int, int, int, int] | None = None  # inpaint: the box painted; outpaint: where the image sits
    # Few-step ("fast") models: a LoRA fused into `model` at full weight (e.g. LCM-LoRA), and a VAE other than the
    # model's own for the final decode (an AutoencoderTiny, TAESD). Hub ids or local paths; empty: none.
    lora: str = ""
    vae: str = ""

    def __post_init__(self) -> None:
        """Coerce JSON-ish values (lists, strings) and check every field, naming the bad value."""
        _coerce(self)
        _check(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (lists instead of tuples, the kind as its string)."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["seeds"] = list(self.seeds)
        data["variation_seeds"] = list(self.variation_seeds)
        data["variation_chain"] = [[seed, strength] for seed, strength in self.variation_chain]
        data["mask_box"] = list(self.mask_box) if self.mask_box is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationRequest":
        """Rebuild a request from `to_dict()` output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RequestError(f"unknown request fields {unknown}")
        missing = sorted({"kind", "prompt", "seeds"} - set(data))
        if missing:
            raise RequestError(f"missing request fields {missing}")
        return cls(**data)

    @property
    def num_images(self) -> int:
        """How many images this request makes."""
        return len(self.seeds)


@dataclass(frozen=True)
class Progress:
    """Reported after each denoising step; `preview` (a small PIL image) only every few steps."""

    step: int
    total: int
    preview: Any = None


@dataclass(frozen=True)
class GenerationResult:
    """The images of one run, each with its A1111 `parameters` infotext, and the request that made them."""

    images: list[Any]
    infotexts: list[str]
    request: GenerationRequest


def _coerce(request: GenerationRequest) -> None:
    """Turn stored JSON forms (strings, lists) back into the field types of a frozen request."""
    def put(name: str, value: Any) -> None:
        object.__setattr__(request, name, value)

    try:
        put("kind", GenerationKind(request.kind))
    except ValueError:
        raise RequestError(f"unknown kind {request.kind!r}; choose one of {[k.value for k in GenerationKind]}")
    for name in ("seeds", "variation_seeds"):
        value = getattr(request, name)
        if not isinstance(value, (list, tuple)):
            raise RequestError(f"{name} must be a list of integers, got {value!r}")
        put(name, tuple(value))
    chain = request.variation_chain
    if not isinstance(chain, (list, tuple)) or any(not isinstance(link, (list, tuple)) or len(link) != 2
                                                   for link in chain):
        raise RequestError(f"variation_chain must be a list of [seed, strength] pairs, got {chain!r}")
    put("variation_chain", tuple((link[0], link[1]) for link in chain))
    if isinstance(request.mask_box, list):
        put("mask_box", tuple(request.mask_box))
    try:  # any accepted spelling ("Euler a", "DPM++_2M_Karras") is stored as the sampler's id
        put("sampler", resolve_sampler(request.sampler))
    except ValueError as error:
        raise RequestError(str(error)) from None
    for name in ("guidance_scale", "variation_strength", "strength"):
        value = getattr(request, name)
        if isinstance(value, int) and not isinstance(value, bool):
            put(name, float(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_seed(name: str, value: Any) -> None:
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        raise RequestError(f"{name} must be an integer from 0 to {MAX_SEED}, got {value!r}")


def _check_fraction(name: str, value: Any) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise RequestError(f"{name} must be a number from 0 to 1, got {value!r}")


def _check(request: GenerationRequest) -> None:
    """Range-check every field; raise RequestError naming the field and the bad value."""
    # 1. Text.
    for name in ("prompt", "negative_prompt", "sampler", "model", "lora", "vae"):
        if not isinstance(getattr(request, name), str):
            raise RequestError(f"{name} must be a string, got {getattr(request, name)!r}")
    if not request.prompt.strip():
        raise RequestError("prompt is empty")
    # 2. Seeds: one per image, optional variation seeds alongside.
    if not 1 <= len(request.seeds) <= MAX_IMAGES:
        raise RequestError(f"seeds must hold 1 to {MAX_IMAGES} seeds, got {list(request.seeds)!r}")
    for seed in request.seeds:
        _check_seed("seed", seed)
    if request.variation_seeds and len(request.variation_seeds) != len(request.seeds):
        raise RequestError(
            f"variation_seeds must hold one seed per image ({len(request.seeds)}), got {list(request.variation_seeds)!r}"
        )
    for seed in request.variation_seeds:
        _check_seed("variation seed", seed)
    _check_fraction("variation_strength", request.variation_strength)
    for seed, strength in request.variation_chain:
        _check_seed("variation chain seed", seed)
        _check_fraction("variation chain strength", strength)
    # 3. Size and sampling.
    for name in ("width", "height"):
        value = getattr(request, name)
        if not _is_int(value) or not MIN_SIDE <= value <= MAX_SIDE or value % SIDE_MULTIPLE:
            raise RequestError(
                f"{name} must be a multiple of {SIDE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}, got {value!r}"
            )
    if not _is_int(request.num_inference_steps) or not 1 <= request.num_inference_steps <= MAX_STEPS:
        raise RequestError(f"num_inference_steps must be from 1 to {MAX_STEPS}, got {request.num_inference_steps!r}")
    if not _is_number(request.guidance_scale) or not 0.0 <= request.guidance_scale <= MAX_GUIDANCE_SCALE:
        raise RequestError(f"guidance_scale must be from 0 to {MAX_GUIDANCE_SCALE}, got {request.guidance_scale!r}")
    if not isinstance(request.tiling, bool):
        raise RequestError(f"tiling must be true or false, got {request.tiling!r}")
    if request.chaos is not None and (not _is_int(request.chaos) or not 0 <= request.chaos <= 100):
        raise RequestError(f"chaos must be an integer from 0 to 100, got {request.chaos!r}")
    # 4. Kind-specific fields.
    _check_fraction("strength", request.strength)
    uses_image = request.kind in IMAGE_KINDS
    if uses_image and not (isinstance(request.init_image, str) and request.init_image):
        raise RequestError(f"a {request.kind.value} request needs init_image, got {request.init_image!r}")
    if uses_image and request.strength <= 0.0:
        raise RequestError(f"a {request.kind.value} request needs strength above 0, got {request.strength!r}")
    if not uses_image and request.init_image is not None:
        raise RequestError(f"a {request.kind.value} request takes no init_image, got {request.init_image!r}")
    if request.kind == GenerationKind.variation and not request.variation_seeds:
        raise RequestError("a variation request needs variation_seeds, got none")
    _check_mask_box(request)


def _check_mask_box(request: GenerationRequest) -> None:
    """inpaint and outpaint need a box of whole pixels inside the image; other kinds take none."""
    box = request.mask_box
    if request.kind not in (GenerationKind.inpaint, GenerationKind.outpaint):
        if box is not None:
            raise RequestError(f"a {request.kind.value} request takes no mask_box, got {box!r}")
        return
    if not (isinstance(box, tuple) and len(box) == 4 and all(_is_int(v) for v in box)):
        raise RequestError(f"a {request.kind.value} request needs mask_box [x, y, w, h] in pixels, got {box!r}")
    x, y, w, h = box
    if not (0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= request.width and y + h <= request.height):
        raise RequestError(f"mask_box {list(box)} must lie inside the {request.width}x{request.height} image")


def tile_seeds(seed: int, count: int) -> tuple[int, ...]:
    """Seeds seed, seed+1, ... for `count` tiles, wrapping past 2**32 - 1 to 0 so every seed stays 32-bit."""
    _check_seed("seed", seed)
    return tuple((seed + offset) % SEED_RANGE for offset in range(count))


def fit_size(aspect_width: float, aspect_height: float, max_pixels: int, multiple: int = 64) -> tuple[int, int]:
    """The largest (width, height), multiples of `multiple`, with this aspect ratio and at most `max_pixels`."""
    if not (aspect_width > 0 and aspect_height > 0 and math.isfinite(aspect_width / aspect_height)):
        raise RequestError(f"aspect ratio must be positive, got {aspect_width}:{aspect_height}")
    ratio = aspect_width / aspect_height
    width = math.sqrt(max_pixels * ratio)
    height = width / ratio
    return max(multiple, int(width // multiple) * multiple), max(multiple, int(height // multiple) * multiple)
