"""Members' /settings applied to their jobs: checked when set, merged into prompts where no flag says otherwise."""

from __future__ import annotations

from collections.abc import Callable

from bot.errors import UserError
from db.settings import Preferences
from generation.errors import PromptError
from generation.prompt_params import PromptDefaults, canonical_flag, parse_prompt, split_flags

MAX_SUFFIX = 300


def check_aspect(value: str, defaults: PromptDefaults) -> str:
    """`16:9` if it is an aspect ratio `--ar` accepts; a UserError naming the problem otherwise."""
    try:
        return parse_prompt(f"x --ar {value.strip()}", defaults).aspect_ratio
    except PromptError as exc:
        raise UserError(f"The aspect {value!r} can't be used: {exc}.") from None


def check_suffix(value: str, defaults: PromptDefaults, screen: Callable[[str], None]) -> str:
    """A suffix is checked like a prompt: its flags must parse, its words pass the server's prompt checks."""
    suffix = " ".join(value.split())
    if len(suffix) > MAX_SUFFIX:
        raise UserError(f"The suffix is {len(suffix)} characters; the limit is {MAX_SUFFIX}.")
    try:
        parse_prompt(f"x {suffix}", defaults)
    except PromptError as exc:
        raise UserError(f"The suffix can't be used: {exc}.") from None
    words, _ = split_flags(suffix)
    if words:
        screen(words)
    return suffix


def with_preferences(text: str, preferences: Preferences) -> str:
    """The prompt with the member's suffix and aspect added; a flag the prompt gives itself always wins."""
    prompt, flags = split_flags(text)
    given = {canonical_flag(name) for name, _ in flags}
    words, extra = [prompt], []
    if preferences.suffix:
        suffix_words, suffix_flags = split_flags(preferences.suffix)
        words.append(suffix_words)
        for name, value in suffix_flags:
            if canonical_flag(name) not in given:
                extra.append((name, value))
                given.add(canonical_flag(name))
    if preferences.aspect and "ar" not in given:
        extra.append(("ar", preferences.aspect))
    if not extra and len(words) == 1:
        return text
    rebuilt = " ".join(f"--{name} {value}".rstrip() for name, value in [*flags, *extra])
    return " ".join(part for part in [*words, rebuilt] if part)


def settings_text(preferences: Preferences) -> str:
    """What /settings shows: each setting and its value, or the default it falls back to."""
    def on(value: bool) -> str:
        return "on" if value else "off"

    return "\n".join([
        "**Your settings** (change them with `/settings`; flags in a prompt always win)",
        f"aspect: {preferences.aspect or 'default (1:1)'}",
        f"variation: {preferences.variation or 'default (subtle)'}",
        f"suffix: {preferences.suffix or 'none'}",
        f"remix: {on(preferences.remix)}",
        f"dm_results: {on(preferences.dm_results)}",
    ])
