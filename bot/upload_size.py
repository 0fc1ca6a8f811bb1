"""Results that fit the upload limit of the place they go: the PNG when it fits, else WebP or JPEG, else smaller.

The lossless PNG (with its generation parameters) always stays on disk; only what is uploaded changes.
Encoding is slow: call fit_upload in a thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

QUALITY = 90  # high quality: artefacts are hard to see at this setting in both formats
# Multipart headers and the JSON part ride along in the same request; leave them room.
HEADROOM = 0.98
MIN_SIDE = 64


@dataclass(frozen=True)
class FittedUpload:
    """The bytes to upload, their file name, and a note for the message when they are not the original PNG."""

    data: bytes
    filename: str
    note: str = ""


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "WEBP":
        image.save(buffer, "WEBP", quality=QUALITY, method=4)
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=QUALITY, optimize=True)
    return buffer.getvalue()


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


def fit_upload(path: Path, limit: int) -> FittedUpload:
    """The PNG at `path` if it fits in `limit` bytes; else WebP, then JPEG, then WebP downscaled until it fits."""
    data = path.read_bytes()
    budget = int(limit * HEADROOM)
    if len(data) <= budget:
        return FittedUpload(data, path.name)
    kept = f"the lossless PNG ({_size(len(data))}) is kept on the bot's disk"
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    for fmt, suffix in (("WEBP", ".webp"), ("JPEG", ".jpg")):
        encoded = _encode(image, fmt)
        if len(encoded) <= budget:
            return FittedUpload(encoded, path.stem + suffix,
                                f"Sent as {fmt.replace('WEBP', 'WebP')} to fit the {_size(limit)} upload limit; {kept}.")
    original = image.size
    while min(image.size) > MIN_SIDE:
        # Bytes grow roughly with the pixel count: shrink by the square root of the overshoot, a little more.
        scale = min(0.9, (budget / len(encoded)) ** 0.5 * 0.95)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
        encoded = _encode(image, "WEBP")
        if len(encoded) <= budget:
            return FittedUpload(encoded, path.stem + ".webp",
                                f"Downscaled from {original[0]}x{original[1]} to {image.width}x{image.height} WebP "
                                f"to fit the {_size(limit)} upload limit; {kept}.")
    raise ValueError(f"{path.name} can't be made to fit in {limit} bytes")
