"""Build tiny random LoRA and textual-inversion files that fit the tiny model of tests/tiny_model.py (no downloads).

The LoRA is what diffusers' `save_lora_weights` writes (peft's UNet adapter layers, safetensors); the embedding is
AUTOMATIC1111's safetensors layout (`emb_params`: one row per vector). torch is imported inside the functions.
"""

from pathlib import Path


def build_tiny_lora(model_dir: Path, path: Path, seed: int, rank: int = 4) -> Path:
    """A random rank-`rank` LoRA on the tiny UNet's attention projections, saved at `path` (.safetensors)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    # 1. Random (not zero-initialised) adapter weights, so the LoRA visibly changes the images.
    unet = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet", use_safetensors=True)
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    # 2. Saved as diffusers saves trained LoRAs: one safetensors file of UNet layers.
    path = Path(path)
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=get_peft_model_state_dict(unet),
                                              weight_name=path.name, safe_serialization=True)
    return path


def build_tiny_embedding(path: Path, seed: int, vectors: int = 2, width: int = 32) -> Path:
    """A random `vectors`-token embedding for the tiny text encoder (hidden size 32), A1111's safetensors layout."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator("cpu").manual_seed(seed)
    save_file({"emb_params": torch.randn((vectors, width), generator=generator)}, str(path))
    return Path(path)
