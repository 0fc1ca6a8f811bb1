"""Members' settings merged into prompts: suffix and aspect fill in, the prompt's own flags win."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.preferences import check_aspect, check_suffix, with_preferences
from db.settings import Preferences
from generation.prompt_params import PromptDefaults, parse_prompt

DEFAULTS = PromptDefaults()


@pytest.mark.parametrize(("prompt", "preferences", "expected"), [
    ("a cat", Preferences(), "a cat"),
    ("a cat", Preferences(aspect="16:9"), "a cat --ar 16:9"),
    ("a cat --ar 2:3", Preferences(aspect="16:9"), "a cat --ar 2:3"),
    ("a cat --aspect 2:3", Preferences(aspect="16:9"), "a cat --aspect 2:3"),
    ("a cat", Preferences(suffix="watercolor --s 750"), "a cat watercolor --s 750"),
    ("a cat --stylize 10", Preferences(suffix="watercolor --s 750", aspect="1:2"), "a cat watercolor --stylize 10 --ar 1:2"),
    ("a cat --seed 3", Preferences(suffix="--ar 4:3", aspect="16:9"), "a cat --seed 3 --ar 4:3"),
])
def test_settings_fill_in_what_the_prompt_leaves_out(prompt: str, preferences: Preferences, expected: str) -> None:
    """The suffix's words follow the prompt's; a flag given in the prompt beats the suffix's and the aspect."""
    assert with_preferences(prompt, preferences) == expected
    parse_prompt(expected, DEFAULTS)  # and the result is a valid prompt


def test_a_bad_aspect_is_refused_naming_it() -> None:
    """An aspect --ar would refuse is refused when set, not at the next /imagine."""
    assert check_aspect(" 16:9 ", DEFAULTS) == "16:9"
    with pytest.raises(UserError, match="9:1"):
        check_aspect("9:1", DEFAULTS)


def test_a_suffix_is_checked_like_a_prompt() -> None:
    """Unknown flags and words the server's prompt checks refuse make the suffix fail when it is set."""
    assert check_suffix("  oil  painting --s 100 ", DEFAULTS, lambda words: None) == "oil painting --s 100"
    with pytest.raises(UserError, match="--bogus"):
        check_suffix("x --bogus 1", DEFAULTS, lambda words: None)

    def refuse(words: str) -> None:
        raise UserError(f"refused {words}")

    with pytest.raises(UserError, match="refused gore"):
        check_suffix("gore --s 100", DEFAULTS, refuse)
