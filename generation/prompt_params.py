"""Midjourney-style flags inside a prompt, parsed by pure functions into a PromptSpec.

    "a lighthouse at dusk --ar 16:9 --no people, boats --seed 42 --chaos 20 --tile"

Flags start with `--` (or the em/en dash that phones substitute) after whitespace; a flag's value runs to the next
flag. Every value is range-checked; an unknown flag or bad value raises PromptError naming the flag and its range.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generation.errors import PromptError
from generation.networks import LoraFile, resolve_lora_tags
from generation.requests import (
    ASPECT_LIMIT,
    GenerationKind,
    GenerationRequest,
    fit_size,
    tile_seeds,
)
from generation.samplers import A1111_NAMES, resolve_sampler
from generation.variations import GRID_SIZE, chaos_grid_seeds

_FLAG = re.compile(r"(?:(?<=\s)|^)(?:--|[—–](?=[A-Za-z]))(\S*)")  # a dash inside prose is no flag
USER_MAX_SEED = 2**32 - 1  # what A1111 and Midjourney users type; tile offsets wrap to 0 past it
STYLIZE_MAX = 1000


@dataclass(frozen=True)
class PromptDefaults:
    """Operator-chosen defaults and limits the flags work within."""

    num_inference_steps: int = 25
    guidance_scale: float = 7.0
    max_pixels: int = 512 * 512
    max_steps: int = 100
    max_prompt_chars: int = 2000
    loras: Mapping[str, LoraFile] = field(default_factory=dict)  # what `<lora:name:weight>` may name


@dataclass(frozen=True)
class PromptSpec:
    """A parsed prompt: the text for the text encoder and the settings its flags chose."""

    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    aspect_ratio: str = "1:1"
    seed: int | None = None
    chaos: int | None = None
    guidance_scale: float = 7.0
    num_inference_steps: int = 25
    sampler: str = "default"
    tiling: bool = False
    fast: bool = False  # --fast: the server's few-step model (the bot applies it; see bot/fast_jobs.py)

    def to_request(self, base_seed: int, model: str = "") -> GenerationRequest:
        """A 4-tile txt2img request: seeds S..S+3 (S = --seed or `base_seed`), or a --chaos spread around S."""
        seed = self.seed if self.seed is not None else base_seed
        if self.chaos is None:
            noise = {"seeds": tile_seeds(seed, GRID_SIZE)}
        else:
            noise = chaos_grid_seeds(seed, self.chaos)
        return GenerationRequest(
            kind=GenerationKind.txt2img,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=self.width,
            height=self.height,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            sampler=self.sampler,
            tiling=self.tiling,
            model=model,
            **noise,
        )


def _number(flag: str, value: str, kind: type, low: float, high: float) -> Any:
    """`value` as int or float within [low, high]; PromptError naming the flag and the range otherwise."""
    allowed = f"whole number from {low} to {high}" if kind is int else f"number from {low:g} to {high:g}"
    try:
        number = kind(value)
    except (ValueError, OverflowError):
        raise PromptError(f"--{flag} needs a {allowed}, got {value!r}") from None
    if not low <= number <= high:  # also refuses NaN
        raise PromptError(f"--{flag} needs a {allowed}, got {value!r}")
    return number


def _aspect(value: str, max_pixels: int) -> tuple[int, int, str]:
    """(width, height, "W:H") for `--ar W:H`."""
    match = re.fullmatch(r"(\d{1,4}):(\d{1,4})", value)
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        raise PromptError(f"--ar needs W:H with whole numbers, e.g. 16:9, got {value!r}")
    ratio_width, ratio_height = int(match[1]), int(match[2])
    if not 1 / ASPECT_LIMIT <= ratio_width / ratio_height <= ASPECT_LIMIT:
        raise PromptError(f"--ar must be between 1:{ASPECT_LIMIT} and {ASPECT_LIMIT}:1, got {value!r}")
    width, height = fit_size(ratio_width, ratio_height, max_pixels)
    return width, height, f"{ratio_width}:{ratio_height}"


def split_flags(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(prompt text before the first flag, [(flag name, value text), ...]) in order of appearance."""
    matches = list(_FLAG.finditer(text))
    prompt = text[: matches[0].start()] if matches else text
    flags = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        flags.append((match[1].lower(), text[match.end():end].strip()))
    return prompt.strip(), flags


def parse_prompt(text: str, defaults: PromptDefaults = PromptDefaults()) -> PromptSpec:
    """A PromptSpec from prompt text with Midjourney-style flags; PromptError for anything invalid."""
    # 1. Split text and flags; refuse what no flag can fix.
    if len(text) > defaults.max_prompt_chars:
        raise PromptError(f"prompt is {len(text)} characters; the limit is {defaults.max_prompt_chars}")
    prompt, flags = split_flags(text)
    if not prompt:
        raise PromptError("prompt is empty: describe the image before any --flags")
    if any("<lora:" in value.lower() for _, value in flags):
        raise PromptError("put <lora:name:weight> in the prompt itself, before the --flags")
    prompt = resolve_lora_tags(prompt, defaults.loras)
    values: dict[str, Any] = {"prompt": prompt, "guidance_scale": defaults.guidance_scale,
                              "num_inference_steps": defaults.num_inference_steps}
    values["width"], values["height"], values["aspect_ratio"] = _aspect("1:1", defaults.max_pixels)
    seen: set[str] = set()
    # 2. Each flag at most once, each value checked.
    for flag, value in flags:
        if not flag:
            raise PromptError("a lone -- needs a flag name after it, e.g. --ar 16:9")
        name = _ALIASES.get(flag, flag)
        if name not in _BOOLEAN_FLAGS and name in _ALIASES.values() and not value:
            raise PromptError(f"--{flag} needs a value")
        if name in seen:
            raise PromptError(f"--{flag} is given twice")
        seen.add(name)
        if name == "ar":
            values["width"], values["height"], values["aspect_ratio"] = _aspect(value, defaults.max_pixels)
        elif name == "seed":
            values["seed"] = _number(flag, value, int, 0, USER_MAX_SEED)
        elif name == "no":
            values["negative_prompt"] = ", ".join(part.strip() for part in value.split(",") if part.strip())
        elif name == "chaos":
            values["chaos"] = _number(flag, value, int, 0, 100)
        elif name == "stylize":
            # Low stylize follows the prompt literally (high CFG); high stylize lets the model roam (low CFG).
            stylize = _number(flag, value, int, 0, STYLIZE_MAX)
            values["guidance_scale"] = round(12.0 - 10.0 * stylize / STYLIZE_MAX, 3)
        elif name == "quality":
            quality = _number(flag, value, float, 0.25, 2.0)
            values["quality"] = max(1, min(defaults.max_steps, round(defaults.num_inference_steps * quality)))
        elif name == "steps":
            values["steps"] = _number(flag, value, int, 1, defaults.max_steps)
        elif name == "tile":
            if value:
                raise PromptError(f"--tile takes no value, got {value!r}")
            values["tiling"] = True
        elif name == "fast":
            if value:
                raise PromptError(f"--fast takes no value, got {value!r}")
            values["fast"] = True
        elif name == "sampler":
            try:
                values["sampler"] = resolve_sampler(value)
            except ValueError:
                raise PromptError(f"--{flag} must be one of {', '.join(A1111_NAMES)} (quoted, or with _ for "
                                  f"spaces), or default; got {value!r}") from None
        else:
            known = ", ".join(f"--{name}" for name in sorted(set(_ALIASES)))
            raise PromptError(f"unknown flag --{flag}; known flags: {known}")
    # 3. A fast model brings its own steps, sampler and guidance.
    overridden = sorted(seen & {"steps", "quality", "sampler", "stylize"})
    if values.get("fast") and overridden:
        raise PromptError(f"--fast sets its own steps, sampler and guidance; drop --{', --'.join(overridden)}")
    # 4. --steps wins over --quality when both are given.
    if "quality" in values:
        values["num_inference_steps"] = values.pop("quality")
    if "steps" in values:
        values["num_inference_steps"] = values.pop("steps")
    return PromptSpec(**values)


def canonical_flag(flag: str) -> str:
    """The one name of a flag and its aliases: `aspect` -> `ar`, `s` -> `stylize`; unknown flags as given."""
    return _ALIASES.get(flag.lower(), flag.lower())


_ALIASES = {
    "ar": "ar", "aspect": "ar", "seed": "seed", "no": "no", "chaos": "chaos", "c": "chaos",
    "stylize": "stylize", "s": "stylize", "quality": "quality", "q": "quality", "steps": "steps",
    "tile": "tile", "sampler": "sampler", "fast": "fast",
}
_BOOLEAN_FLAGS = {"tile", "fast"}
