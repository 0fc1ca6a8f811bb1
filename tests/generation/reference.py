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


# AUTOMATIC1111 sampler names (and `Schedule type`) -> the diffusers scheduler and settings that realise them,
# written from diffusers' scheduler documentation ("A1111/k-diffusion equivalents"), not from generation/samplers.py.
A1111_SCHEDULERS: dict[tuple[str, str], tuple[str, dict]] = {
    ("Euler", ""): ("EulerDiscreteScheduler", {}),
    ("Euler a", ""): ("EulerAncestralDiscreteScheduler", {}),
    ("LMS", ""): ("LMSDiscreteScheduler", {}),
    ("LMS", "Karras"): ("LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    ("Heun", ""): ("HeunDiscreteScheduler", {}),
    ("DPM2", ""): ("KDPM2DiscreteScheduler", {}),
    ("DPM2", "Karras"): ("KDPM2DiscreteScheduler", {"use_karras_sigmas": True}),
    ("DPM2 a", ""): ("KDPM2AncestralDiscreteScheduler", {}),
    ("DPM2 a", "Karras"): ("KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True}),
    ("DPM++ 2S a", ""): ("DPMSolverSinglestepScheduler", {}),
    ("DPM++ 2S a", "Karras"): ("DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}),
    ("DPM++ 2M", ""): ("DPMSolverMultistepScheduler", {}),
    ("DPM++ 2M", "Karras"): ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    ("DPM++ SDE", ""): ("DPMSolverSDEScheduler", {}),
    ("DPM++ SDE", "Karras"): ("DPMSolverSDEScheduler", {"use_karras_sigmas": True}),
    ("DPM++ 2M SDE", ""): ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    ("DPM++ 2M SDE", "Karras"): ("DPMSolverMultistepScheduler",
                                 {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    ("DDIM", ""): ("DDIMScheduler", {"clip_sample": False}),
    ("PNDM", ""): ("PNDMScheduler", {"skip_prk_steps": True}),
    ("UniPC", ""): ("UniPCMultistepScheduler", {}),
    ("DDPM", ""): ("DDPMScheduler", {"clip_sample": False}),
    ("LCM", ""): ("LCMScheduler", {}),
    # Not A1111's: our few-step Euler for SD-Turbo-style models (docs/PROMPTS.md), "trailing" timestep spacing.
    ("Euler", "Trailing"): ("EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
}


def scheduler_for(params, model_scheduler):
    """A diffusers scheduler for the parsed PNG's `Sampler` and `Schedule type`, from the model's own config.

    DPM++ SDE's Brownian noise is seeded with the image's seed (the convention A1111 follows).
    """
    import diffusers

    class_name, settings = A1111_SCHEDULERS[(params.sampler, params.schedule_type)]
    if class_name == "DPMSolverSDEScheduler":
        settings = settings | {"noise_sampler_seed": params.seed}
    return getattr(diffusers, class_name).from_config(model_scheduler.config, **settings)
