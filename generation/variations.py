"""Seed-locked variations: initial noise built from seeds, blended A1111-style by spherical interpolation.

Conventions (recorded in every PNG, so plain diffusers reproduces any tile):
- The noise of seed s is `torch.randn((1, C, H/8, W/8), generator=torch.Generator("cpu").manual_seed(s), dtype=D)`,
  the same draw diffusers makes from a per-image CPU generator.
- Image i starts from noise(seeds[i]); each `(seed, strength)` link of `variation_chain` is blended in, in order,
  with `slerp`; then noise(variation_seeds[i]) at `variation_strength`. A variation of a variation tile appends the
  parent's own (variation seed, strength) to the chain, so it stays close to that tile, not to the grid's root seed.
- The CPU generator of seeds[i] (advanced past its noise draw) is also handed to the pipeline, so stochastic samplers
  (euler_a) draw their per-step noise exactly as plain diffusers does.
- `--chaos c` makes a grid whose four tiles are variations of tile 1: seeds (S, S, S, S), variation seeds
  (S, S+1, S+2, S+3) at strength 0.1 + 0.9 * c / 100 (tile 1 is the root noise itself). Without --chaos the tiles
  use seeds S..S+3 unblended, which equals chaos 100 up to rounding.
- Seeds are 32-bit: S+1.. wrap past 2**32 - 1 to 0 (`tile_seeds`), so --seed 4294967295 gives tiles
  4294967295, 0, 1, 2.

This module imports torch only inside the noise functions; the request builders are pure.
"""

import dataclasses
import math
from typing import Any

from generation.errors import RequestError
from generation.requests import MAX_SEED, GenerationKind, GenerationRequest, tile_seeds

VARIATION_SUBTLE = 0.15
VARIATION_STRONG = 0.35
GRID_SIZE = 4


def chaos_strength(chaos: int) -> float:
    """Variation strength that spreads a grid's tiles for `--chaos chaos` (0-100)."""
    if not 0 <= chaos <= 100:
        raise RequestError(f"chaos must be from 0 to 100, got {chaos!r}")
    return round(0.1 + 0.9 * chaos / 100, 4)


def _tile_index(parent: GenerationRequest, tile: int) -> int:
    if not 1 <= tile <= parent.num_images:
        raise RequestError(f"tile must be from 1 to {parent.num_images}, got {tile!r}")
    return tile - 1


def variation_request(
    parent: GenerationRequest, tile: int, strength: float, variation_base_seed: int
) -> GenerationRequest:
    """A 4-image variation grid of `parent`'s tile (1-based): same seed and prompt, variation seeds base..base+3."""
    # 1. Only noise-born images have noise to vary.
    if parent.kind not in (GenerationKind.txt2img, GenerationKind.variation):
        raise RequestError(f"variations need a txt2img or variation parent, got a {parent.kind.value} image")
    index = _tile_index(parent, tile)
    if not 0 <= variation_base_seed <= MAX_SEED:
        raise RequestError(f"variation_base_seed must be from 0 to {MAX_SEED}, got {variation_base_seed!r}")
    # 2. The parent tile's noise is its seed plus its chain plus its own variation link (if it had one).
    chain = parent.variation_chain
    if parent.variation_seeds and parent.variation_strength > 0.0:
        chain = (*chain, (parent.variation_seeds[index], parent.variation_strength))
    # 3. Four children around that noise.
    return dataclasses.replace(
        parent,
        kind=GenerationKind.variation,
        seeds=(parent.seeds[index],) * GRID_SIZE,
        variation_seeds=tile_seeds(variation_base_seed, GRID_SIZE),
        variation_strength=strength,
        variation_chain=chain,
        chaos=None,
    )


def chaos_grid_seeds(seed: int, chaos: int) -> dict[str, Any]:
    """GenerationRequest fields (seeds, variation seeds and strength) for a 4-tile grid at `--chaos chaos`."""
    return {
        "seeds": (seed,) * GRID_SIZE,
        "variation_seeds": tile_seeds(seed, GRID_SIZE),
        "variation_strength": chaos_strength(chaos),
        "chaos": chaos,
    }


def reroll_request(request: GenerationRequest, base_seed: int) -> GenerationRequest:
    """`request` again with fresh noise from `base_seed`: what a re-roll of its grid (or image) queues."""
    if not 0 <= base_seed <= MAX_SEED:
        raise RequestError(f"base_seed must be from 0 to {MAX_SEED}, got {base_seed!r}")
    # 1. A variation grid keeps its parent tile's noise (seed and chain) and draws new variation seeds.
    if request.kind == GenerationKind.variation:
        return dataclasses.replace(request, variation_seeds=tile_seeds(base_seed, request.num_images))
    # 2. A --chaos grid is rebuilt around the new seed, so its recorded Chaos still describes it.
    if request.kind == GenerationKind.txt2img and request.chaos is not None:
        return dataclasses.replace(request, **chaos_grid_seeds(base_seed, request.chaos))
    # 3. Everything else: consecutive seeds from the new base, no blended noise.
    return dataclasses.replace(request, seeds=tile_seeds(base_seed, request.num_images), variation_seeds=(),
                               variation_strength=0.0, variation_chain=())


def slerp(low: Any, high: Any, t: float) -> Any:
    """Spherical interpolation from tensor `low` (t=0) to `high` (t=1), computed in float64 over all elements."""
    import torch

    if t <= 0.0:
        return low
    if t >= 1.0:
        return high
    a, b = low.double().flatten(), high.double().flatten()
    cos_omega = torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1.0, 1.0)
    omega = torch.arccos(cos_omega)
    if math.isclose(math.sin(omega.item()), 0.0, abs_tol=1e-6):  # (anti)parallel: plain lerp is exact enough
        mixed = (1.0 - t) * a + t * b
    else:
        mixed = (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return mixed.reshape(low.shape).to(low.dtype)


def seed_noise(seed: int, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
    """(noise, generator): diffusers' draw for one image from a CPU generator, and that generator afterwards."""
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=dtype), generator


def initial_noise(request: GenerationRequest, shape: tuple[int, ...], dtype: Any) -> tuple[Any, list[Any]]:
    """(latents of shape (N, *shape[1:]), one generator per image) following the module's conventions."""
    import torch

    noises, generators = [], []
    for index, seed in enumerate(request.seeds):
        # 1. The image's own seed.
        noise, generator = seed_noise(seed, shape, dtype)
        # 2. Ancestors' variation links, oldest first.
        for link_seed, link_strength in request.variation_chain:
            noise = slerp(noise, seed_noise(link_seed, shape, dtype)[0], link_strength)
        # 3. This image's variation seed.
        if request.variation_seeds:
            noise = slerp(noise, seed_noise(request.variation_seeds[index], shape, dtype)[0], request.variation_strength)
        noises.append(noise)
        generators.append(generator)
    return torch.cat(noises), generators
