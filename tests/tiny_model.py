"""Build a tiny, randomly initialised Stable Diffusion folder for tests (no downloads).

The layout is what `StableDiffusionPipeline.save_pretrained` writes, so every code path that loads a real model
from a folder (safetensors only) runs against it. torch and diffusers are imported inside the function so that
importing this module (conftest does) stays cheap for tests that never build a model.
"""

import json
import tempfile
from pathlib import Path

# Text-encoder embedding rows; the byte-level vocabulary below uses 514 of them (2 specials + 256 bytes x 2 forms).
_VOCAB_SIZE = 1000


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in character for each of the 256 bytes (byte-level BPE alphabet)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, shift = [], 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shift))
            shift += 1
    return symbols


def _write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """Write a byte-level CLIP vocab.json (each byte with and without `</w>`) and an empty merges.txt."""
    symbols = _byte_symbols()
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(symbol + "</w>" for symbol in symbols)]
    vocab = {token: index for index, token in enumerate(tokens)}
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    merges_file = folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n", encoding="utf-8")
    return vocab_file, merges_file


def build_tiny_model(path: Path) -> Path:
    """Save a tiny random SD pipeline (UNet 32/64, 4-level VAE, 2-layer CLIP) to `path` and return `path`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    # 1. Tokenizer from files we write ourselves (nothing downloaded).
    path = Path(path)
    with tempfile.TemporaryDirectory() as source:
        # from_pretrained reads vocab.json + merges.txt under both transformers 4 and 5 (their constructors differ).
        _write_tokenizer_files(Path(source))
        tokenizer = CLIPTokenizer.from_pretrained(source, model_max_length=77)

    # 2. Models from configs, seeded so that every build is identical.
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    # Four levels keep the VAE scale factor at 2 ** (4 - 1) = 8: 64x64 images have 8x8 latents, as in SD 1.5.
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-5,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=_VOCAB_SIZE,
            max_position_embeddings=77,
        )
    )
    # SD 1.5's own scheduler settings, so "default" means the same thing for the tiny model and a real one.
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1,
    )

    # 3. Assemble and save (safetensors only).
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path, safe_serialization=True)
    return path
