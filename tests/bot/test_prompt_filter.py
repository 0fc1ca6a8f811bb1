"""The prompt filter: disguised spellings of a banned word are caught; innocent words that contain it are not."""

from __future__ import annotations

import pytest

from bot.prompt_filter import Match, PromptFilter, normalise

FILTER = PromptFilter(banned_words=["nude", "ass", "naked body"], banned_patterns=[r"\bgore\w*", r"blood\s*bath"])


@pytest.mark.parametrize("prompt", [
    "nude",
    "a NUDE statue",
    "ｎｕｄｅ woman",  # full-width
    "nüde",  # accented
    "nudé portrait",
    "nudе",  # Cyrillic е
    "ѕtudio, nυde",  # Cyrillic ѕ, Greek υ
    "𝐧𝐮𝐝𝐞 in bold math letters",
    "nud3",  # digit swaps
    "n4k3d b0dy",
    "n.u.d.e",  # separators between single letters
    "n u d e",
    "N-U-D-E",
    "n_u_d_e at the beach",
    "nude!",
    "@ss",
    "a$$",
    "a s s",
    "nαked bοdy",  # Greek α and ο, a banned phrase
    "GORE",
    "g0r3fest",
    "bl00dbath",
])
def test_disguised_spellings_are_caught(prompt: str) -> None:
    """Look-alike, accented, full-width, digit-swapped and spelled-out forms still match a rule."""
    assert FILTER.match(prompt) is not None


@pytest.mark.parametrize("prompt", [
    "class photo",
    "a glass of water",
    "bass guitar on stage",
    "assassin's creed",
    "an embarrassed cat",
    "nudes",  # another word: whole-word rules list the forms they mean
    "denuded hillside",
    "naked",  # only the whole phrase "naked body" is banned
    "body paint",
    "a b c blocks",
    "1girl, 4k, 1024x768",
    "",
])
def test_innocent_prompts_pass(prompt: str) -> None:
    """Words that merely contain a banned word, and unrelated digits, are not blocked."""
    assert FILTER.match(prompt) is None


@pytest.mark.parametrize(("prompt", "rule"), [
    ("nudе", 'word "nude"'),
    ("n a k e d   b o d y", 'word "naked body"'),
    ("g0re", 'pattern "\\bgore\\w*"'),
])
def test_the_match_names_the_rule_as_configured(prompt: str, rule: str) -> None:
    """The match says which configured word or pattern was broken (for moderators, not members)."""
    assert str(FILTER.match(prompt)) == rule


def test_digit_one_reads_as_i_and_as_l() -> None:
    """"1" stands for either letter, so "ki11" and "m1lk" both find their words."""
    assert set(normalise("ki11")) == {"kiii", "kill"}
    assert PromptFilter(["kill"]).match("ki11 it") == Match("word", "kill")
    assert PromptFilter(["milk"]).match("m1lk") == Match("word", "milk")


def test_a_banned_word_is_normalised_like_the_prompt() -> None:
    """Operators may write words with accents or capitals; they match their plain spellings."""
    assert PromptFilter(["Nüde"]).match("nude") == Match("word", "Nüde")


def test_an_empty_filter_matches_nothing() -> None:
    """Without rules every prompt passes (and the filter is falsy, so callers can skip it)."""
    empty = PromptFilter()
    assert not empty and empty.match("nude") is None
