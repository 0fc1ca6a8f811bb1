"""Remix: V buttons and re-roll open an edit box prefilled with the prompt; the edited text makes the child job."""

from __future__ import annotations

import dataclasses
import math

from bot.errors import UserError
from bot.job_info import sampler_flag, stylize_for
from generation.prompt_params import PromptSpec, canonical_flag, split_flags
from generation.requests import GenerationRequest

# A variation keeps its image's noise, so its size and seeds come from the image, never from the edit.
FIXED_IN_VARIATIONS = ("ar", "seed", "chaos")


def prefill(request: GenerationRequest, *, variation: bool, default_guidance: float, fast: bool = False) -> str:
    """The edit box's starting text: the prompt and the flags a member may change (seeds and size only on re-roll).

    A fast job's box says `--fast` instead of its steps, stylize and sampler: the fast model brings those, and
    `--fast` refuses them.
    """
    flags = []
    if not variation:
        ratio = math.gcd(request.width, request.height)
        flags.append(f"--ar {request.width // ratio}:{request.height // ratio}")
        if request.chaos is not None:
            flags.append(f"--chaos {request.chaos}")
    if fast:
        flags.append("--fast")
    else:
        flags.append(f"--steps {request.num_inference_steps}")
        if request.guidance_scale != default_guidance and (stylize := stylize_for(request.guidance_scale)) is not None:
            flags.append(f"--stylize {stylize}")
        if request.sampler != "default":
            flags.append(f"--sampler {sampler_flag(request.sampler)}")
    if request.tiling:
        flags.append("--tile")
    if request.negative_prompt:
        flags.append(f"--no {request.negative_prompt}")
    return f"{request.prompt} {' '.join(flags)}"


def check_variation_edit(text: str) -> None:
    """Refuse flags a variation can't change, naming them (nothing is queued)."""
    _, flags = split_flags(text)
    fixed = sorted({canonical_flag(name) for name, _ in flags} & set(FIXED_IN_VARIATIONS))
    if fixed:
        names = ", ".join(f"--{name}" for name in fixed)
        raise UserError(f"Variations keep their image's size and seeds, so {names} can't change here; remove it "
                        "or use re-roll. Nothing was queued.")


def remixed(request: GenerationRequest, edit: PromptSpec) -> GenerationRequest:
    """The parent's request with the edited prompt and settings, its seeds and size kept (for a variation)."""
    return dataclasses.replace(
        request, prompt=edit.prompt, negative_prompt=edit.negative_prompt, guidance_scale=edit.guidance_scale,
        num_inference_steps=edit.num_inference_steps, tiling=edit.tiling,
        sampler=request.sampler if edit.sampler == "default" else edit.sampler)
