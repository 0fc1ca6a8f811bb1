"""An independent implementation of the documented noise convention, used to reproduce tiles with plain diffusers.

Written from generation/variations.py's docstring only: per-seed CPU randn, blended by spherical interpolation.
"""

import math

import torch


def seed_noise(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """diffusers' initial noise for one image from a CPU generator seeded with `seed`."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)


def slerp(low: torch.Tensor, high: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation over all elements, in float64."""
    if t <= 0:
        return low
    if t >= 1:
        return high
    a, b = low.double().flatten(), high.double().flatten()
    omega = math.acos(max(-1.0, min(1.0, float(torch.dot(a / a.norm(), b / b.norm())))))
    if abs(math.sin(omega)) < 1e-6:
        return ((1 - t) * a + t * b).reshape(low.shape).float()
    mixed = (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)
    return mixed.reshape(low.shape).float()


def tile_noise(params, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Generator]:
    """(initial latents, generator) of one tile from its parsed PNG parameters."""
    generator = torch.Generator("cpu").manual_seed(params.seed)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    for link_seed, link_strength in params.variation_chain:
        noise = slerp(noise, seed_noise(link_seed, shape), link_strength)
    if params.variation_seed is not None:
        noise = slerp(noise, seed_noise(params.variation_seed, shape), params.variation_strength)
    return noise, generator


def read_parameters(path):
    """The parsed `parameters` chunk of the PNG at `path`."""
    from PIL import Image

    from generation.metadata import parse_infotext

    with Image.open(path) as image:
        return parse_infotext(image.text["parameters"])
