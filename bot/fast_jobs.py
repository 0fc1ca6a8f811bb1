"""Fast jobs: which configured few-step model a request uses, and turning requests fast.

The hook for channel profiles: a profile that names a fast model calls `make_fast(config, request, name)` on every
/imagine in its channels, exactly as `--fast` does with `model.fast`.
"""

from __future__ import annotations

from bot.config import Config
from bot.errors import UserError
from generation.fast import fast_request
from generation.requests import GenerationRequest


def make_fast(config: Config, request: GenerationRequest, name: str) -> GenerationRequest:
    """`request` made by fast model `name` ([fast_models.<name>]): its weights, scheduler, steps; no guidance."""
    if name not in config.fast_models:
        raise UserError(f"There is no fast model {name!r} on this server.")
    return fast_request(request, config.few_step(name))


def fast_name(config: Config) -> str:
    """The fast model `--fast` uses; UserError when the server has none."""
    if not config.model.fast:
        raise UserError("--fast is not available on this server (no fast model is configured).")
    return config.model.fast


def fast_model_of(config: Config, request: GenerationRequest) -> str | None:
    """The name of the configured fast model that made `request`, or None for a full-model job."""
    for name in config.fast_models:
        few = config.few_step(name)
        if (request.model, request.lora, request.guidance_scale) == (few.model, few.lora, 0.0):
            return name
    return None
