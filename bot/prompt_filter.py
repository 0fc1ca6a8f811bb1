"""The prompt filter: banned words and patterns, matched after undoing the usual disguises.

`ｎｕｄｅ`, `nüde`, `nudе` (Cyrillic е), `nud3` and `n.u.d.e` all read as `nude` here. Words match whole words
only, so a banned `ass` leaves `class` alone. Pure: no Discord, no database.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from anyascii import anyascii
from confusable_homoglyphs import confusables

# Digits and symbols that stand in for letters inside a word ("n00d", "s3x", "@ss"); "1" reads as i or l.
_LEET = str.maketrans({"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"})
# "!" and "|" stand for i/l only before another letter: a trailing "!" is punctuation ("nude!").
_INNER_BAR = re.compile(r"[!|](?=[a-z0-9])")
_HAS_LETTER = re.compile(r"[a-z]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# Three or more one-character tokens in a row are one spelled-out word: "n u d e", "n.u.d.e", "n-u-d-e".
_SPELLED = re.compile(r"(?<![a-z0-9])[a-z0-9](?: [a-z0-9]){2,}(?![a-z0-9])")


@functools.lru_cache(maxsize=4096)
def _ascii_char(char: str) -> str:
    """One non-ASCII character as ASCII: its Latin look-alike (Unicode's confusables), else its transliteration."""
    found = confusables.is_confusable(char, preferred_aliases=["latin"], greedy=True)
    if found:
        for glyph in found[0]["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return glyph["c"]
        return anyascii(found[0]["homoglyphs"][0]["c"])
    return anyascii(char)


def fold(text: str) -> str:
    """NFKC, case folding, accents stripped, look-alike letters mapped to ASCII (lower case)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    # Accents: decompose and drop the combining marks ("nüde" -> "nude").
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return "".join(c if c.isascii() else _ascii_char(c) for c in text).lower()


def _unleet(chunk: str, one: str) -> str:
    """Digit-for-letter swaps inside one whitespace-separated chunk that has letters (a bare "1024" stays)."""
    if not _HAS_LETTER.search(chunk):
        return chunk
    chunk = _INNER_BAR.sub(one, chunk)
    return chunk.translate(_LEET).replace("1", one)


def _words(folded: str, one: str) -> str:
    """Lower-case ASCII words separated by single spaces, with spelled-out letters joined."""
    text = " ".join(_unleet(chunk, one) for chunk in folded.split())
    text = _NOT_ALNUM.sub(" ", text).strip()
    return _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), text)


def normalise(text: str) -> tuple[str, ...]:
    """Every reading of a prompt the rules are matched against ("1" read as i, then as l)."""
    folded = fold(text)
    readings = dict.fromkeys(_words(folded, one) for one in ("i", "l"))
    return tuple(readings)


@dataclass(frozen=True)
class Match:
    """Which rule a prompt broke: `word "nude"` or `pattern "..."`, as the operator wrote it."""

    kind: str  # "word" or "pattern"
    rule: str

    def __str__(self) -> str:
        return f'{self.kind} "{self.rule}"'


class PromptFilter:
    """Banned whole words and regular expressions, checked against every normalised reading of a prompt."""

    def __init__(self, banned_words: Iterable[str] = (), banned_patterns: Iterable[str] = ()) -> None:
        self._words: list[tuple[str, re.Pattern[str]]] = []
        for word in banned_words:
            readings = normalise(word)
            if not readings[0]:
                raise ValueError(f"banned word {word!r} has no letters or digits left after normalisation")
            # A phrase spelled out letter by letter ("n a k e d b o d y") arrives without its spaces.
            readings = tuple(dict.fromkeys([*readings, *(r.replace(" ", "") for r in readings)]))
            alternatives = "|".join(re.escape(r) for r in readings)
            self._words.append((word, re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")))
        # Patterns see the prompt case-folded and each normalised reading; operators write them in lower case.
        self._patterns = [(p, re.compile(p, re.IGNORECASE)) for p in banned_patterns]

    def __bool__(self) -> bool:
        return bool(self._words or self._patterns)

    def match(self, prompt: str) -> Match | None:
        """The first rule the prompt breaks, or None when it is clean."""
        if not self:
            return None
        readings = normalise(prompt)
        for word, regex in self._words:
            if any(regex.search(reading) for reading in readings):
                return Match("word", word)
        texts = (unicodedata.normalize("NFKC", prompt).casefold(), fold(prompt), *readings)
        for source, regex in self._patterns:
            if any(regex.search(text) for text in texts):
                return Match("pattern", source)
        return None
