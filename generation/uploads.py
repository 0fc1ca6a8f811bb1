"""Checking user-uploaded init images before any pixel is decoded (type, bytes, header dimensions)."""

import io
import warnings
from typing import Any

from generation.errors import UploadError

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
ALLOWED_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 4096 * 4096


def check_upload(
    data: bytes,
    filename: str,
    content_type: str | None,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Any:
    """The upload as an RGB PIL image; UploadError naming the problem if it is not a small PNG, JPEG or WebP."""
    from PIL import Image

    # 1. Byte size and declared type, before reading anything.
    if len(data) > max_bytes:
        raise UploadError(f"{filename} is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise UploadError(f"{filename} is empty")
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadError(f"{filename}: only .png, .jpg, .jpeg and .webp images are accepted")
    if content_type is not None and content_type.split(";")[0].strip().lower() not in ALLOWED_FORMATS.values():
        raise UploadError(f"{filename} has content type {content_type!r}; only PNG, JPEG and WebP are accepted")
    # 2. The header: real format and dimensions (Image.open reads no pixels yet).
    try:
        with warnings.catch_warnings():
            # Pillow only warns about headers between its own limit and twice that; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise UploadError(f"{filename} is too many pixels: {error}") from None
    except (Image.UnidentifiedImageError, OSError, ValueError):
        raise UploadError(f"{filename} is not a PNG, JPEG or WebP image") from None
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(f"{filename} is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    # 3. Decode, now that the size is known to be safe.
    try:
        image.load()
        return image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as error:
        raise UploadError(f"{filename} could not be decoded: {error}") from None
