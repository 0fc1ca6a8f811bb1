"""Model loading safety (safetensors only) and the tokenizer-only loader."""

import shutil

import pytest

from generation.engine import Engine
from generation.errors import ModelNotFound, PromptError, UnsafeModelError
from generation.tokens import check_token_limit, count_tokens, load_tokenizer


@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt", ".pth"])
def test_pickle_checkpoint_file_is_refused(tmp_path, suffix):
    """A single pickle checkpoint raises UnsafeModelError naming the file."""
    checkpoint = tmp_path / f"model{suffix}"
    checkpoint.write_bytes(b"not really a pickle")
    with pytest.raises(UnsafeModelError, match=f"model\\{suffix}"):
        Engine(str(checkpoint), device="cpu")


def test_folder_with_only_pickle_weights_is_refused(tiny_model_dir, tmp_path):
    """A pipeline folder whose UNet weights are only a .bin file is refused, naming that file."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "pickled")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(UnsafeModelError, match="unet/diffusion_pytorch_model.bin"):
        Engine(str(folder), device="cpu")


def test_folder_with_pickles_beside_safetensors_loads(tiny_model_dir, tmp_path):
    """Extra .bin files next to safetensors are ignored; the safetensors weights load."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "both")
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"never read")
    assert Engine(str(folder), device="cpu").pipe.unet is not None


def test_missing_folder_is_named(tmp_path):
    """A model path that does not exist raises ModelNotFound naming it."""
    with pytest.raises(ModelNotFound, match="nowhere"):
        Engine(str(tmp_path / "nowhere"), device="cpu")


def test_folder_without_model_index_is_refused(tmp_path):
    """A folder that is not a diffusers pipeline raises ModelNotFound."""
    with pytest.raises(ModelNotFound, match="no model_index.json"):
        Engine(str(tmp_path), device="cpu")


def test_tokenizer_loads_alone_and_counts_like_the_engine(tiny_model_dir, engine):
    """load_tokenizer reads only the tokenizer and counts tokens as the engine does."""
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = "a lighthouse at dusk"
    assert count_tokens(tokenizer, prompt) == count_tokens(engine.pipe.tokenizer, prompt)


def test_tokenizer_limit_accepts_short_and_refuses_long(tiny_model_dir):
    """check_token_limit returns the count under 77 and raises PromptError above."""
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert check_token_limit(tokenizer, "a b") == 4
    with pytest.raises(PromptError, match="the model reads at most 77"):
        check_token_limit(tokenizer, "word " * 40)
