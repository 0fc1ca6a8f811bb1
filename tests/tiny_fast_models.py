"""Tiny random few-step parts for tests: a TAESD (AutoencoderTiny) and an LCM-style LoRA for the tiny SD model.

Built from configs with random weights and saved as safetensors, the way the real ones are published
(madebyollin/taesd, latent-consistency/lcm-lora-sdv1-5), so the real loading paths run. Imports stay inside the
functions: conftest imports this module.
"""

from pathlib import Path


def build_tiny_taesd(path: Path) -> Path:
    """Save a tiny AutoencoderTiny (16 channels, one block per level, 8x upsampling) to `path`."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16), decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4,
    )
    vae.save_pretrained(path, safe_serialization=True)
    return Path(path)


def build_tiny_lora(model_dir: Path, path: Path) -> Path:
    """Save a random rank-4 LoRA on the tiny UNet's attention projections to `path` (diffusers' LoRA layout)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    # 1. Adapter layers with random (not zero) up-projections, so fusing visibly changes the images.
    unet = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet", use_safetensors=True)
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    # 2. Saved as pytorch_lora_weights.safetensors, the file name LCM-LoRA repositories use.
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(path, unet_lora_layers=layers, safe_serialization=True)
    return Path(path)
