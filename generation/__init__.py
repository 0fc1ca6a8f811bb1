"""Pixels for imagine-bot: requests in, images with A1111 metadata out.

Importing this package (and requests, errors, prompt_params, variations, refine, metadata) does not import
torch, diffusers or transformers; `Engine` is loaded on first access.
"""

from typing import Any

from generation.errors import (
    GenerationCancelled,
    GenerationError,
    ModelNotFound,
    OutOfMemory,
    PromptError,
    RequestError,
    UnsafeModelError,
    UploadError,
)
from generation.requests import (
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    Progress,
)

__all__ = [
    "Engine",
    "GenerationCancelled",
    "GenerationError",
    "GenerationKind",
    "GenerationRequest",
    "GenerationResult",
    "ModelNotFound",
    "OutOfMemory",
    "Progress",
    "PromptError",
    "RequestError",
    "UnsafeModelError",
    "UploadError",
]


def __getattr__(name: str) -> Any:
    """Import the Engine (and with it torch) only when it is asked for."""
    if name == "Engine":
        from generation.engine import Engine

        return Engine
    raise AttributeError(f"module 'generation' has no attribute {name!r}")
