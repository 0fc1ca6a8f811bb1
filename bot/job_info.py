"""What the Info button shows: a job's full parameters and an `/imagine` line that makes the same grid again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from db.queue import JobView
from generation.prompt_params import STYLIZE_MAX, PromptDefaults
from generation.requests import GenerationKind, GenerationRequest, fit_size
from generation.samplers import SAMPLERS

KIND_NAMES = {"imagine": "new grid", "variation": "variations", "refine": "upscale", "reroll": "re-roll",
              "img2img": "image to image"}


@dataclass(frozen=True)
class Reproduction:
    """The `/imagine` command line for a request, and what it cannot carry (said in words)."""

    line: str
    notes: tuple[str, ...]


def sampler_label(sampler_id: str) -> str:
    """A1111's name for a sampler id (`dpmpp_2m_karras` -> `DPM++ 2M Karras`), as PNG parameters write it."""
    sampler = SAMPLERS.get(sampler_id)
    return "Default (the model's own)" if sampler is None else sampler.label


def sampler_flag(sampler_id: str) -> str:
    """A1111's name as one --sampler word (`DPM++_2M_Karras`); the prompt parser reads it back to the same id."""
    return sampler_label(sampler_id).replace(" ", "_")


def stylize_for(guidance_scale: float) -> int | None:
    """The --stylize value whose guidance scale is exactly this one (see prompt_params), or None."""
    stylize = round((12.0 - guidance_scale) * STYLIZE_MAX / 10.0)
    if 0 <= stylize <= STYLIZE_MAX and round(12.0 - 10.0 * stylize / STYLIZE_MAX, 3) == round(guidance_scale, 3):
        return stylize
    return None


def reproduce(request: GenerationRequest, defaults: PromptDefaults, model_names: Mapping[str, str],
              default_model: str, *, fast: str | None = None, fast_default: str = "") -> Reproduction:
    """`/imagine prompt: ... --seed S --ar W:H --steps N ...`: parsed again, it gives this grid's txt2img settings.

    Variations and upscales start from a txt2img grid; their line makes the image they started from (the tile
    seed is the first seed), and the notes say so. A job made by fast model `fast` (bot.fast_jobs.fast_model_of)
    gets `--fast` instead of steps, CFG and sampler (the fast model brings its own), and `model:` when `fast` is not
    the one `--fast` picks (`fast_default`).
    """
    notes: list[str] = []
    flags = [f"--seed {request.seeds[0]}"]
    if request.chaos is not None:
        flags.append(f"--chaos {request.chaos}")
    ratio = math.gcd(request.width, request.height)
    aspect = f"{request.width // ratio}:{request.height // ratio}"
    if fit_size(request.width // ratio, request.height // ratio, defaults.max_pixels) != (request.width,
                                                                                        request.height):
        notes.append(f"It was {request.width}x{request.height}; this server's size budget now gives "
                     f"--ar {aspect} another size.")
    flags.append(f"--ar {aspect}")
    if fast is not None:
        flags.append("--fast")  # --fast refuses --steps, --stylize and --sampler: its model sets them
    else:
        flags.append(f"--steps {request.num_inference_steps}")
        if request.guidance_scale != defaults.guidance_scale:
            stylize = stylize_for(request.guidance_scale)
            if stylize is None:
                notes.append(f"Its CFG scale {request.guidance_scale:g} has no --stylize value.")
            else:
                flags.append(f"--stylize {stylize}")
        if request.sampler != "default":
            flags.append(f"--sampler {sampler_flag(request.sampler)}")
    if request.tiling:
        flags.append("--tile")
    if request.negative_prompt:
        flags.append(f"--no {request.negative_prompt}")
    line = f"/imagine prompt: {request.prompt} {' '.join(flags)}"
    if fast is not None:
        if fast != fast_default:
            line += f" model: {fast}"
    elif request.model and request.model != default_model:
        name = next((name for name, model in model_names.items() if model == request.model), None)
        if name is None:
            notes.append("Its model is no longer offered on this server.")
        else:
            line += f" model: {name}"
    if request.kind is GenerationKind.variation:
        notes.append("Variations have no flag: the line makes the image they started from (tile 1), "
                     "then V1 varies it.")
    elif request.kind is not GenerationKind.txt2img:
        notes.append("An upscale or image-to-image job has no flag: the line makes a new grid with its prompt "
                     "and settings.")
    return Reproduction(line=line, notes=tuple(notes))


def info_text(job: JobView, request: GenerationRequest, reproduction: Reproduction) -> str:
    """The private Info message: every parameter of the job, then the line to copy."""
    lines = [f"**Job #{job.id}**: {KIND_NAMES.get(job.kind, job.kind)}, {job.status}"
             + (f", from job #{job.parent_job_id}" if job.parent_job_id else "")
             + (f" tile {job.parent_tile}" if job.parent_job_id and job.parent_tile else ""),
             f"Prompt: {request.prompt}"]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(f"Size: {request.width}x{request.height}, Steps: {request.num_inference_steps}, "
                 f"CFG scale: {request.guidance_scale:g}, Sampler: {sampler_label(request.sampler)}"
                 + (", Tiling: on" if request.tiling else ""))
    lines.append("Seeds (tiles 1-4): " + ", ".join(str(seed) for seed in request.seeds))
    if request.variation_seeds:
        lines.append("Variation seeds: " + ", ".join(str(s) for s in request.variation_seeds)
                     + f", Variation strength: {request.variation_strength:g}")
    if request.chaos is not None:
        lines.append(f"Chaos: {request.chaos}")
    if request.kind in (GenerationKind.refine, GenerationKind.img2img):
        lines.append(f"Denoising strength: {request.strength:g}")
    if request.model:
        lines.append(f"Model: {request.model}")
    if job.gpu_seconds is not None:
        lines.append(f"GPU time: {job.gpu_seconds:.1f} s")
    tail = ["", "Make it again:", f"```\n{reproduction.line}\n```", *reproduction.notes]
    text = "\n".join(lines + tail)
    if len(text) > 2000:  # a long prompt shows once, inside the line to copy
        lines[1] = "Prompt: as in the line below"
        text = "\n".join(lines + tail)
    return text if len(text) <= 2000 else text[:1999] + "…"
