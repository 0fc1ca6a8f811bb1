"""Fixtures shared by every part of the suite."""

from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, randomly initialised Stable Diffusion folder, saved with save_pretrained (built once per run)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_taesd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random AutoencoderTiny (TAESD) folder (built once per run)."""
    from tests.tiny_fast_models import build_tiny_taesd

    return build_tiny_taesd(tmp_path_factory.mktemp("tiny-taesd"))


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LCM-style LoRA for the tiny model's UNet, as a safetensors folder (built once per run)."""
    from tests.tiny_fast_models import build_tiny_lora

    return build_tiny_lora(tiny_model_dir, tmp_path_factory.mktemp("tiny-lora"))
