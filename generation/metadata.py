"""AUTOMATIC1111-style `parameters` infotext: written into every PNG, and parsed back to values.

Format (one image):
    <prompt, may span lines>
    Negative prompt: <negative prompt>            (only when there is one)
    Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 512x512, Model: <model>[, ...]
`Sampler` is A1111's name (generation.samplers); `Schedule type` appears for Karras variants only.
More keys, where relevant: `Variation seed`, `Variation seed strength`, `Variation chain` (ancestor links
`seed@strength` separated by `; `, applied before the variation seed; see generation.variations), `Chaos`,
`Denoising strength`, `Upscaler`, `Tiling`, `Lora hashes` and `TI hashes` (`name: <12 hex of SHA-256>, ...`),
`Source image` with `Inpaint box` or `Outpaint box` (geometry `WxH+X+Y`; see generation.canvas), `Fused LoRA` and
`VAE` (fast models: see generation.fast). Values holding `,`, `:` or quotes are JSON-quoted, as A1111 does.
Floats are written with repr(), so they parse back to the exact value used.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from generation.networks import lora_weights
from generation.requests import IMAGE_KINDS, GenerationKind, GenerationRequest
from generation.samplers import a1111_fields, resolve_sampler

_PARAM_PATTERN = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE_PREFIX = "Negative prompt:"
_BOX_KEYS = {GenerationKind.inpaint: "Inpaint box", GenerationKind.outpaint: "Outpaint box"}


@dataclass(frozen=True)
class ImageParameters:
    """The values one infotext records, typed."""

    prompt: str
    negative_prompt: str
    num_inference_steps: int
    sampler: str  # A1111's name as written, e.g. "DPM++ 2M"; see sampler_id
    guidance_scale: float
    seed: int
    width: int
    height: int
    model: str = ""
    variation_seed: int | None = None
    variation_strength: float = 0.0
    variation_chain: tuple[tuple[int, float], ...] = ()
    chaos: int | None = None
    strength: float | None = None
    tiling: bool = False
    schedule_type: str = ""  # A1111's `Schedule type`, e.g. "Karras"
    source_image: str | None = None  # inpaint/outpaint: the image the canvas was made from
    inpaint_box: tuple[int, int, int, int] | None = None  # x, y, w, h repainted (Vary (Region))
    outpaint_box: tuple[int, int, int, int] | None = None  # x, y, w, h where the source sits (Zoom Out, Pan, Square)
    extra: dict[str, str] = field(default_factory=dict)  # keys this parser does not type (e.g. Upscaler)

    @property
    def loras(self) -> list[tuple[str, float]]:
        """(name, weight) of each `<lora:name:weight>` in the prompt."""
        return lora_weights(self.prompt)

    @property
    def sampler_id(self) -> str | None:
        """Our id of the recorded sampler and schedule (e.g. `dpmpp_2m_karras`), None if it is not one of ours."""
        try:
            return resolve_sampler(self.sampler, self.schedule_type)
        except ValueError:
            return None


def _quote(value: str) -> str:
    return json.dumps(value) if any(c in value for c in ',:"\n') else value


def infotext(request: GenerationRequest, index: int, upscaler: str = "Lanczos", scheduler: str = "",
             hashes: Mapping[str, str] | None = None) -> str:
    """The `parameters` text of image `index` (0-based) of `request`.

    `upscaler` names a refine's 2x resize; `scheduler` names the diffusers class that ran for sampler "default"
    when it is none of the named samplers; `hashes` holds A1111's `Lora hashes` and `TI hashes` of the job.
    """
    # 1. Core keys, always present.
    sampler = a1111_fields(request.sampler)
    if request.sampler == "default" and scheduler:
        sampler["Sampler"] = scheduler
    params: dict[str, str] = {
        "Steps": str(request.num_inference_steps),
        **sampler,
        "CFG scale": repr(float(request.guidance_scale)),
        "Seed": str(request.seeds[index]),
        "Size": f"{request.width}x{request.height}",
        "Model": request.model,
        **(hashes or {}),
    }
    # 2. Noise blending (variations, --chaos).
    if request.variation_seeds:
        params["Variation seed"] = str(request.variation_seeds[index])
        params["Variation seed strength"] = repr(float(request.variation_strength))
    if request.variation_chain:
        params["Variation chain"] = "; ".join(f"{seed}@{strength!r}" for seed, strength in request.variation_chain)
    if request.chaos is not None:
        params["Chaos"] = str(request.chaos)
    # 3. Image-to-image and tiling.
    if request.kind in IMAGE_KINDS:
        params["Denoising strength"] = repr(float(request.strength))
    if request.mask_box is not None:  # see generation.canvas; geometry written as WxH+X+Y
        x, y, w, h = request.mask_box
        params["Source image"] = str(request.init_image)
        params[_BOX_KEYS[request.kind]] = f"{w}x{h}+{x}+{y}"
    if request.kind == GenerationKind.refine:
        params["Upscaler"] = upscaler
    if request.tiling:
        params["Tiling"] = "True"
    # 4. Fast models: the LoRA fused at weight 1 and the final decoder, when not the model's own.
    if request.lora:
        params["Fused LoRA"] = request.lora
    if request.vae:
        params["VAE"] = request.vae
    # 5. Assemble the lines.
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"{_NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in params.items() if value != ""))
    return "\n".join(lines)


def parse_param_line(line: str) -> dict[str, str]:
    """The `Key: value` pairs of an infotext's last line, JSON-quoted values unquoted."""
    params = {}
    for key, value in _PARAM_PATTERN.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            value = json.loads(value)
        params[key.strip()] = value.strip()
    return params


def _box(text: str) -> tuple[int, int, int, int]:
    """x, y, w, h from geometry `WxH+X+Y`."""
    match = re.fullmatch(r"(\d+)x(\d+)\+(\d+)\+(\d+)", text.strip())
    if not match:
        raise ValueError(f"box {text!r} is not WxH+X+Y")
    w, h, x, y = (int(group) for group in match.groups())
    return x, y, w, h


def parse_infotext(text: str) -> ImageParameters:
    """Typed values of an infotext written by `infotext` (or by AUTOMATIC1111, for the keys shared)."""
    # 1. Split prompt, negative prompt and the parameter line.
    lines = text.strip().split("\n")
    if len(lines) < 2 or "Steps:" not in lines[-1]:
        raise ValueError(f"not an infotext (no 'Steps:' line): {text[:80]!r}")
    params = parse_param_line(lines[-1])
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines[:-1]:
        if line.startswith(_NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(_NEGATIVE_PREFIX):].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    # 2. Type the known keys; keep the rest as text.
    width, _, height = params.pop("Size", "0x0").partition("x")
    chain_text = params.pop("Variation chain", "")
    chain = tuple(
        (int(seed), float(strength))
        for seed, _, strength in (link.strip().partition("@") for link in chain_text.split(";") if link.strip())
    )
    variation_seed = params.pop("Variation seed", None)
    chaos = params.pop("Chaos", None)
    strength = params.pop("Denoising strength", None)
    boxes = {key: _box(params.pop(key)) for key in ("Inpaint box", "Outpaint box") if key in params}
    return ImageParameters(
        prompt="\n".join(prompt_lines),
        negative_prompt="\n".join(negative_lines),
        num_inference_steps=int(params.pop("Steps")),
        sampler=params.pop("Sampler", "Default"),
        schedule_type=params.pop("Schedule type", ""),
        source_image=params.pop("Source image", None),
        inpaint_box=boxes.get("Inpaint box"),
        outpaint_box=boxes.get("Outpaint box"),
        guidance_scale=float(params.pop("CFG scale", "7.0")),
        seed=int(params.pop("Seed")),
        width=int(width),
        height=int(height),
        model=params.pop("Model", ""),
        variation_seed=int(variation_seed) if variation_seed is not None else None,
        variation_strength=float(params.pop("Variation seed strength", "0.0")),
        variation_chain=chain,
        chaos=int(chaos) if chaos is not None else None,
        strength=float(strength) if strength is not None else None,
        tiling=params.pop("Tiling", "False") == "True",
        extra=params,
    )
