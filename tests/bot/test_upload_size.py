"""fit_upload: the PNG when it fits, else WebP/JPEG at high quality, else downscaled; always under the limit."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from bot.upload_size import fit_upload


def _noisy_png(path: Path, side: int) -> Path:
    """A PNG that compresses badly (random pixels), like a detailed upscale."""
    rng = random.Random(side)
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(path, "PNG")
    return path


def test_a_png_under_the_limit_goes_as_it_is(tmp_path: Path) -> None:
    """Nothing is re-encoded when the PNG fits."""
    path = _noisy_png(tmp_path / "grid.png", 32)
    fitted = fit_upload(path, 10_000_000)
    assert (fitted.data, fitted.filename, fitted.note) == (path.read_bytes(), "grid.png", "")


@pytest.mark.parametrize("share", [0.6, 0.05])
def test_an_oversized_png_is_re_encoded_under_the_limit(tmp_path: Path, share: float) -> None:
    """Over the limit: a WebP or JPEG (downscaled if needed) under it, saying the PNG is kept; the PNG is unchanged."""
    path = _noisy_png(tmp_path / "grid.png", 256)
    original = path.read_bytes()
    limit = int(len(original) * share)
    fitted = fit_upload(path, limit)
    assert len(fitted.data) <= limit and fitted.filename.endswith((".webp", ".jpg"))
    assert "lossless PNG" in fitted.note and path.read_bytes() == original
    with Image.open(io.BytesIO(fitted.data)) as sent:
        assert sent.format in ("WEBP", "JPEG")
        assert (sent.size == (256, 256)) == ("Downscaled" not in fitted.note)
