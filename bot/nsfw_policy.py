"""How a job's images may be shown, as a pure function of its scores, the channel's profile and any hold.

Every path that shows a result (delivery, re-delivery after a crash, DMs, a Release, /show) asks `display()`, so a
flagged image is never posted in the clear where the policy says otherwise.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Sequence

NSFW_POLICIES = ("allow", "spoiler", "hold")
SPOILER_PREFIX = "SPOILER_"  # Discord blurs attachments whose file name starts with this until clicked


class Display(enum.StrEnum):
    """What may be posted of a job's images."""

    clear = "clear"  # the images as they are
    spoiler = "spoiler"  # the images as Discord spoilers (SPOILER_ file names)
    hold = "hold"  # only a blurred placeholder; the images go to the moderators (and stay there unless released)


def flagged(scores: Sequence[float] | None, threshold: float) -> bool:
    """Whether any image reached the threshold (unscored jobs are never flagged)."""
    return bool(scores) and max(scores) >= threshold  # type: ignore[arg-type]


def display(scores: Sequence[float] | None, threshold: float, *, nsfw: str, nsfw_channel_policy: str,
            age_restricted: bool, hold_state: str | None = None) -> Display:
    """The way a job's images may be shown in one channel.

    `nsfw` is the channel profile's policy; in a Discord age-restricted channel its `nsfw_channel_policy` applies
    instead. A result a moderator released is shown in the clear; a held or deleted one never is.
    """
    if hold_state == "released":
        return Display.clear
    if hold_state is not None:
        return Display.hold
    if not flagged(scores, threshold):
        return Display.clear
    policy = nsfw_channel_policy if age_restricted else nsfw
    return {"allow": Display.clear, "spoiler": Display.spoiler, "hold": Display.hold}[policy]


def spoiler_name(filename: str) -> str:
    """`grid.png` -> `SPOILER_grid.png` (idempotent)."""
    return filename if filename.startswith(SPOILER_PREFIX) else SPOILER_PREFIX + filename


def placeholder_png(data: bytes) -> bytes:
    """A heavily blurred, small stand-in for a held image: shapes and colours, nothing recognisable."""
    from PIL import Image, ImageFilter

    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((8, 8), Image.Resampling.BOX)
    out = small.resize((256, 256), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(16))
    buffer = io.BytesIO()
    out.save(buffer, "PNG")
    return buffer.getvalue()
