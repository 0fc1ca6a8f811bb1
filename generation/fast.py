"""Few-step ("fast") models and the requests they make: draft grids in 1-8 steps without guidance, and Enhance.

A fast model is a distilled model (SD-Turbo, Hyper-SD, Lightning) or a base model with an LCM-LoRA fused in. It
runs its own scheduler (LCM, Euler with "trailing" spacing, or the model's own) for a few steps with
classifier-free guidance off, and may decode with TAESD instead of the full VAE. Everything that differs from a
normal job is a field of the request (model, lora, sampler, steps, guidance, vae), so seeds, variations, U/V
buttons and reproduction from the PNG metadata work unchanged. Pure: no torch here.
"""

import dataclasses
from dataclasses import dataclass

from generation.errors import RequestError
from generation.requests import GenerationKind, GenerationRequest

FAST_SAMPLERS = ("lcm", "euler_trailing", "default")
MAX_FAST_STEPS = 8


@dataclass(frozen=True)
class FewStep:
    """How a fast model runs: which weights, which scheduler, how many steps, which final decoder."""

    model: str
    lora: str = ""
    sampler: str = "lcm"
    steps: int = 4
    vae: str = ""  # an AutoencoderTiny for the final decode; empty: the model's own VAE

    def __post_init__(self) -> None:
        """Refuse settings a few-step model cannot use, naming the value."""
        if not self.model.strip():
            raise RequestError("a fast model needs a model (hub id or folder)")
        if self.sampler not in FAST_SAMPLERS:
            raise RequestError(f"a fast model's scheduler must be one of {', '.join(FAST_SAMPLERS)}, "
                               f"got {self.sampler!r}")
        if not 1 <= self.steps <= MAX_FAST_STEPS:
            raise RequestError(f"a fast model runs 1 to {MAX_FAST_STEPS} steps, got {self.steps!r}")


def fast_request(request: GenerationRequest, fast: FewStep) -> GenerationRequest:
    """`request` (any kind) made by the fast model: its weights, scheduler and steps; guidance off."""
    return dataclasses.replace(request, model=fast.model, lora=fast.lora, vae=fast.vae, sampler=fast.sampler,
                               num_inference_steps=fast.steps, guidance_scale=0.0)


def enhance_request(parent: GenerationRequest, tile: int, *, model: str, num_inference_steps: int,
                    guidance_scale: float, sampler: str) -> GenerationRequest:
    """One image: `parent`'s tile (1-based) re-rendered by the full model and settings from the very same noise."""
    if parent.kind not in (GenerationKind.txt2img, GenerationKind.variation):
        raise RequestError(f"Enhance needs a grid made from noise, got a {parent.kind.value} image")
    if not 1 <= tile <= parent.num_images:
        raise RequestError(f"tile must be from 1 to {parent.num_images}, got {tile!r}")
    index = tile - 1
    # The tile's noise: its seed, its chain, and its own variation link (as generation.variations builds it).
    variation = {"variation_seeds": (), "variation_strength": 0.0}
    if parent.variation_seeds:
        variation = {"variation_seeds": (parent.variation_seeds[index],),
                     "variation_strength": parent.variation_strength}
    return dataclasses.replace(
        parent, seeds=(parent.seeds[index],), **variation, chaos=None, model=model, lora="", vae="",
        num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, sampler=sampler,
    )
