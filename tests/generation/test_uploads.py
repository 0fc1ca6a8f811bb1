"""check_upload: only small PNG/JPEG/WebP images are decoded; everything else is refused first."""

import io
import struct
import zlib

import pytest
from PIL import Image

from generation.errors import UploadError
from generation.uploads import check_upload


def encoded(image_format: str, size=(32, 16)) -> bytes:
    """A small image encoded in `image_format`."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but that carries almost no pixel data (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("image_format", "name", "content_type"), [
    ("PNG", "a.png", "image/png"), ("JPEG", "a.jpg", "image/jpeg"), ("WEBP", "a.webp", "image/webp"),
])
def test_accepts_png_jpeg_webp(image_format, name, content_type):
    """Each allowed format decodes to an RGB image of its size."""
    image = check_upload(encoded(image_format), name, content_type)
    assert (image.mode, image.size) == ("RGB", (32, 16))


def test_refuses_too_many_bytes():
    """Data over max_bytes is refused, naming the size and limit."""
    with pytest.raises(UploadError, match="is 2000 bytes; the limit is 1000"):
        check_upload(b"\0" * 2000, "a.png", "image/png", max_bytes=1000)


def test_refuses_header_over_pixel_limit_before_decoding(monkeypatch):
    """A header claiming too many pixels is refused without decoding any pixel data."""
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(UploadError, match="is 5000x5000 = 25000000 pixels; the limit is 1000000"):
        check_upload(png_header_only(5000, 5000), "bomb.png", "image/png", max_pixels=1000 * 1000)


def test_refuses_pillow_bomb_header_even_with_a_high_limit():
    """A header past Pillow's own bomb threshold is an UploadError, not a warning or crash."""
    with pytest.raises(UploadError, match="too many pixels"):
        check_upload(png_header_only(20000, 20000), "bomb.png", "image/png", max_pixels=10**12)


@pytest.mark.parametrize(("data", "name", "content_type", "message"), [
    (b"GIF89a....", "a.gif", "image/gif", "only .png, .jpg, .jpeg and .webp"),
    (b"not an image", "a.png", "image/png", "a.png is not a PNG, JPEG or WebP image"),
    (b"%PDF-1.4", "a.png", "application/pdf", "content type 'application/pdf'"),
    (b"", "a.png", "image/png", "a.png is empty"),
])
def test_refuses_non_images(data, name, content_type, message):
    """Other types, mislabelled files and empty uploads are refused with the reason."""
    with pytest.raises(UploadError, match=message):
        check_upload(data, name, content_type)


def test_refuses_gif_renamed_to_png():
    """A real GIF named .png is refused by its content, not its name."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="GIF")
    with pytest.raises(UploadError, match="not a PNG, JPEG or WebP"):
        check_upload(buffer.getvalue(), "sneaky.png", "image/png")


def test_refuses_truncated_image():
    """A PNG cut short is refused when decoding fails."""
    with pytest.raises(UploadError, match="could not be decoded"):
        check_upload(encoded("PNG", (64, 64))[:-30], "cut.png", None)
