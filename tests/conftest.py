"""Fixtures shared by every part of the suite."""

from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, randomly initialised Stable Diffusion folder, saved with save_pretrained (built once per run)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-sd"))
