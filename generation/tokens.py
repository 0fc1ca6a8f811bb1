"""Prompt token counting for CLIP text encoders, with a tokenizer-only loader for the bot's validation.

The bot can check a prompt's length without loading the pipeline: `load_tokenizer(model)` reads only the
`tokenizer/` subfolder.
"""

from pathlib import Path
from typing import Any

from generation.errors import PromptError
from generation.networks import strip_lora_tags

CLIP_TOKEN_LIMIT = 77  # including the start and end tokens


def load_tokenizer(model: str) -> Any:
    """Only the tokenizer of the pipeline at `model` (local folder or hub id)."""
    from transformers import AutoTokenizer

    local = Path(model).expanduser()
    if local.is_dir():
        return AutoTokenizer.from_pretrained(local / "tokenizer")
    return AutoTokenizer.from_pretrained(model, subfolder="tokenizer")


def count_tokens(tokenizer: Any, prompt: str) -> int:
    """Tokens the text encoder would see for `prompt`, including the start and end tokens, before truncation."""
    return len(tokenizer(strip_lora_tags(prompt), truncation=False).input_ids)  # the encoder never sees <lora:...>


def check_token_limit(tokenizer: Any, prompt: str, limit: int | None = None) -> int:
    """The token count of `prompt`; PromptError naming the count and limit when the encoder would truncate it."""
    limit = limit or min(tokenizer.model_max_length, CLIP_TOKEN_LIMIT)
    count = count_tokens(tokenizer, prompt)
    if count > limit:
        raise PromptError(f"prompt is {count} tokens long; the model reads at most {limit} (start and end included)")
    return count
