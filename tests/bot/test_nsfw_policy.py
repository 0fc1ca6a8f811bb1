"""How a job's images may be shown: a table of scores, channel policies, age restriction and holds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.nsfw_policy import Display, display, flagged, placeholder_png, spoiler_name


@pytest.mark.parametrize(("scores", "threshold", "expected"), [
    (None, 0.8, False),  # not scored (classifier off)
    ([], 0.0, False),
    ([0.1, 0.2, 0.79, 0.0], 0.8, False),
    ([0.1, 0.8, 0.0, 0.0], 0.8, True),  # at the threshold counts
    ([0.0], 0.0, True),  # threshold 0 flags every scored image
])
def test_flagged_when_any_image_reaches_the_threshold(scores, threshold, expected) -> None:
    """One image at or above the threshold flags the job; unscored jobs are never flagged."""
    assert flagged(scores, threshold) is expected


@pytest.mark.parametrize(("nsfw", "channel_policy", "age_restricted", "hold_state", "expected"), [
    ("allow", "allow", False, None, Display.clear),
    ("spoiler", "allow", False, None, Display.spoiler),
    ("hold", "allow", False, None, Display.hold),
    ("hold", "allow", True, None, Display.clear),  # an age-restricted channel uses nsfw_channel_policy
    ("allow", "spoiler", True, None, Display.spoiler),
    ("allow", "hold", True, None, Display.hold),
    ("hold", "hold", False, "held", Display.hold),
    ("allow", "allow", False, "held", Display.hold),  # once held, never shown openly until released
    ("allow", "allow", False, "deleted", Display.hold),
    ("hold", "hold", False, "released", Display.clear),
])
def test_flagged_images_follow_the_channel_policy(nsfw, channel_policy, age_restricted, hold_state, expected) -> None:
    """A flagged job is shown as the profile says, in an age-restricted channel as its channel policy says."""
    assert display([0.95], 0.8, nsfw=nsfw, nsfw_channel_policy=channel_policy, age_restricted=age_restricted,
                   hold_state=hold_state) is expected


@pytest.mark.parametrize("nsfw", ["allow", "spoiler", "hold"])
def test_unflagged_images_are_always_clear(nsfw: str) -> None:
    """Below the threshold every policy shows the images as they are."""
    assert display([0.1], 0.8, nsfw=nsfw, nsfw_channel_policy=nsfw, age_restricted=False) is Display.clear


def test_spoiler_names_are_prefixed_once() -> None:
    """Discord hides attachments named SPOILER_*; prefixing twice would show the prefix."""
    assert spoiler_name("grid.png") == "SPOILER_grid.png" == spoiler_name("SPOILER_grid.png")


def test_the_placeholder_keeps_nothing_recognisable() -> None:
    """The placeholder keeps only an 8x8 colour average, blurred: a fine checkerboard becomes flat grey."""
    board = Image.new("RGB", (128, 128), "white")
    for x in range(0, 128, 4):
        for y in range(0, 128, 4):
            if (x + y) // 4 % 2:
                board.paste((0, 0, 0), (x, y, x + 4, y + 4))
    buffer = io.BytesIO()
    board.save(buffer, "PNG")
    blurred = Image.open(io.BytesIO(placeholder_png(buffer.getvalue())))
    assert blurred.format == "PNG" and blurred.size == (256, 256)
    low, high = blurred.convert("L").getextrema()
    assert high - low < 64
