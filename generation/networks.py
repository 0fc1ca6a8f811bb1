"""LoRA and textual-inversion embeddings (A1111's "extra networks"), configured by the operator, per job.

Prompt syntax, as in AUTOMATIC1111: `<lora:name:0.6>` anywhere in the prompt applies LoRA `name` at weight 0.6
(`<lora:name>`: the configured weight); an embedding is used by writing its name as a word of the prompt or the
negative prompt. The `<lora:...>` text stays in the recorded prompt (with its weight made explicit) and is removed
from the text the encoder reads. Files are safetensors only. Everything loaded for a job is unloaded after it.
This module imports torch and diffusers only inside `job_networks`.
"""

import contextlib
import hashlib
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.errors import GenerationError, PromptError

LORA_TAG = re.compile(r"<lora:([^<>]*)>", re.IGNORECASE)
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_LORA_WEIGHT = 4.0  # beyond this LoRAs only produce noise; A1111's slider stops at 2


@dataclass(frozen=True)
class LoraFile:
    """A configured LoRA: its safetensors file and the weight `<lora:name>` gets without one."""

    path: str
    weight: float = 1.0


def _known(kind: str, names: Mapping[str, Any]) -> str:
    return f"known {kind}: {', '.join(sorted(names))}" if names else f"no {kind} are configured on this server"


def resolve_lora_tags(prompt: str, loras: Mapping[str, LoraFile]) -> str:
    """`prompt` with each `<lora:name[:weight]>` checked and its weight written out; PromptError naming bad tags."""
    seen: set[str] = set()

    def explicit(match: re.Match[str]) -> str:
        # 1. Split name and weight; A1111's extra parts (text-encoder/UNet weights) are not supported.
        parts = match[1].split(":")
        name = parts[0].strip()
        if len(parts) > 2:
            raise PromptError(f"{match[0]}: write <lora:name> or <lora:name:weight>")
        if name not in loras:
            raise PromptError(f"unknown LoRA {name!r} in {match[0]}; {_known('LoRAs', loras)}")
        if name in seen:
            raise PromptError(f"LoRA {name!r} is used twice; give it once with one weight")
        seen.add(name)
        # 2. The weight: given, or the configured one, written out so the prompt alone reproduces the job.
        if len(parts) == 1 or not parts[1].strip():
            return f"<lora:{name}:{loras[name].weight:g}>"
        try:
            weight = float(parts[1])
        except ValueError:
            weight = math.nan
        if not -MAX_LORA_WEIGHT <= weight <= MAX_LORA_WEIGHT:
            raise PromptError(f"{match[0]}: the weight must be a number from {-MAX_LORA_WEIGHT:g} to "
                              f"{MAX_LORA_WEIGHT:g}, got {parts[1]!r}")
        return f"<lora:{name}:{parts[1].strip()}>"

    return LORA_TAG.sub(explicit, prompt)


def lora_weights(prompt: str) -> list[tuple[str, float]]:
    """(name, weight) of each `<lora:name:weight>` of a prompt (A1111's default weight 1 where none is written)."""
    found = []
    for match in LORA_TAG.finditer(prompt):
        name, _, weight = match[1].partition(":")
        found.append((name.strip(), float(weight.split(":")[0]) if weight.strip() else 1.0))
    return found


def strip_lora_tags(prompt: str) -> str:
    """The text the encoder reads: the prompt without its `<lora:...>` tags (nothing else changes, as in A1111)."""
    return LORA_TAG.sub("", prompt)


def embeddings_in(texts: list[str], embeddings: Mapping[str, str]) -> list[str]:
    """Names of the configured embeddings used as words in any of `texts`, in sorted order."""
    return sorted(name for name in embeddings
                  if any(re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text) for text in texts))


def short_hash(path: str) -> str:
    """A1111's short hash of a network file: the first 12 hex digits of its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def check_network_file(kind: str, name: str, path: str) -> None:
    """GenerationError unless `path` is an existing .safetensors file (pickle formats can run code when loaded)."""
    if Path(path).suffix.lower() != ".safetensors":
        raise GenerationError(f"{kind} {name!r} is {path}; only .safetensors files are loaded")
    if not Path(path).is_file():
        raise GenerationError(f"{kind} {name!r}: file {path} does not exist")


@contextlib.contextmanager
def job_networks(pipe: Any, loras: list[tuple[str, str, float]], embeddings: list[tuple[str, str]]) -> Iterator[None]:
    """While active, `pipe` carries these LoRAs (name, path, weight) and embeddings (name, path); then neither."""
    try:
        # 1. LoRAs as named adapters (internal names: peft refuses dots in adapter names), weighted together.
        adapters = [f"job_lora_{index}" for index in range(len(loras))]
        for adapter, (name, path, _) in zip(adapters, loras):
            try:
                with warnings.catch_warnings():
                    # peft warns on every adapter after the first; several adapters at once are the point here.
                    warnings.filterwarnings("ignore", "Already found a `peft_config` attribute", UserWarning)
                    pipe.load_lora_weights(path, adapter_name=adapter)
            except (ValueError, KeyError, RuntimeError) as error:
                raise GenerationError(f"LoRA {name!r} does not fit this model: {error}") from error
        if loras:
            pipe.set_adapters(adapters, adapter_weights=[weight for _, _, weight in loras])
        # 2. Embeddings: new tokens whose vectors come from the file (A1111's safetensors layout or diffusers').
        for name, path in embeddings:
            try:
                pipe.load_textual_inversion(path, token=name)
            except (ValueError, KeyError, RuntimeError) as error:
                raise GenerationError(f"embedding {name!r} does not fit this model: {error}") from error
        yield
    finally:
        # 3. Back to the base model, so nothing leaks into the next job.
        if loras:
            pipe.unload_lora_weights()
        if embeddings:
            pipe.unload_textual_inversion()
