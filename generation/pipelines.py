"""Loading diffusers pipelines safely (safetensors only) and switching their per-run settings.

torch and diffusers are imported inside the functions, so importing this module stays cheap.
"""

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generation.errors import ModelNotFound, UnsafeModelError

# Pickle formats can execute code when loaded; we only ever load safetensors.
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
WEIGHT_SUFFIXES = (*PICKLE_SUFFIXES, ".safetensors")


def check_model_source(model: str) -> None:
    """Raise UnsafeModelError naming the file if `model` is, or a folder of it holds only, pickle weights."""
    path = Path(model).expanduser()
    # 1. A single checkpoint file.
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise UnsafeModelError(f"refusing pickle checkpoint {path}: convert it to a diffusers safetensors folder")
        raise ModelNotFound(f"{path} is a single file; pass a diffusers folder (save_pretrained) or a hub id")
    if not path.is_dir():
        if model.startswith(("/", ".", "~")):
            raise ModelNotFound(f"model folder {model} does not exist")
        return  # a hub id: from_pretrained(use_safetensors=True) refuses pickle-only repositories itself
    # 2. A folder: every folder holding weights must hold safetensors.
    if not (path / "model_index.json").is_file():
        raise ModelNotFound(f"{path} has no model_index.json; it is not a diffusers pipeline folder")
    for folder in [path, *sorted(p for p in path.iterdir() if p.is_dir())]:
        weights = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)
        pickles = [p for p in weights if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles and len(pickles) == len(weights):
            raise UnsafeModelError(f"refusing pickle weights {pickles[0]}: only safetensors are loaded")


def pick_device(device: str | None) -> str:
    """`device`, else "cuda" when available, else "cpu"."""
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype: Any) -> Any:
    """`dtype` (a torch.dtype or its name), else float16 on CUDA and float32 elsewhere."""
    import torch

    if dtype is None:
        return torch.float16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        if name not in ("float16", "bfloat16", "float32"):
            raise ValueError(f"unknown dtype {dtype!r}; use float16, bfloat16 or float32")
        return getattr(torch, name)
    return dtype


def load_text2img(model: str, device: str, dtype: Any) -> Any:
    """A text-to-image pipeline from a hub id or local folder, safetensors only, on `device`."""
    from diffusers import AutoPipelineForText2Image

    # 1. Refuse pickles before anything is read.
    check_model_source(model)
    # 2. Load; use_safetensors=True makes diffusers fail rather than fall back to .bin files.
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(model, **dtype_argument(dtype), use_safetensors=True)
    except OSError as error:
        raise ModelNotFound(f"cannot load model {model!r}: {error}") from error
    # 3. Our noise, previews and tiling assume a UNet denoiser with 4-channel VAE latents (SD 1.x/2.x, SDXL).
    if getattr(pipe, "unet", None) is None:
        raise ModelNotFound(f"{model} is a {type(pipe).__name__}; only UNet pipelines (SD 1.x/2.x, SDXL) are supported")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def dtype_argument(dtype: Any) -> dict[str, Any]:
    """diffusers renamed `torch_dtype` to `dtype` (0.42 warns about the old name); pass the one it expects."""
    import diffusers

    major, minor = (int(part) for part in re.findall(r"\d+", diffusers.__version__)[:2])
    if (major, minor) >= (0, 42):
        return {"dtype": dtype}
    return {"torch_dtype": dtype}


def check_safetensors_source(source: str, what: str) -> None:
    """Raise UnsafeModelError unless a local `source` (file or folder) holds safetensors; hub ids pass through."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() != ".safetensors":
        raise UnsafeModelError(f"refusing {what} {path}: only .safetensors files are loaded")
    if path.is_dir() and not any(p.suffix.lower() == ".safetensors" for p in path.iterdir()):
        raise UnsafeModelError(f"refusing {what} folder {path}: it holds no .safetensors file")
    if not path.exists() and source.startswith(("/", ".", "~")):
        raise ModelNotFound(f"{what} {source} does not exist")


def fuse_lora(pipe: Any, lora: str) -> None:
    """Load a LoRA (e.g. LCM-LoRA: a file, folder or hub id, safetensors only) and fuse it at full weight."""
    check_safetensors_source(lora, "LoRA")
    path = Path(lora).expanduser()
    where = {"pretrained_model_name_or_path_or_dict": str(path.parent), "weight_name": path.name} if path.is_file() \
        else {"pretrained_model_name_or_path_or_dict": lora}
    try:
        pipe.load_lora_weights(**where, use_safetensors=True, adapter_name="fused")
    except (OSError, ValueError) as error:
        raise ModelNotFound(f"cannot load LoRA {lora!r}: {error}") from error
    # Fused weights cost nothing per step; the adapter layers are dropped once their deltas are in the weights.
    pipe.fuse_lora(adapter_names=["fused"], lora_scale=1.0)
    pipe.unload_lora_weights()


def load_tiny_vae(source: str, device: str, dtype: Any) -> Any:
    """An AutoencoderTiny (TAESD: hub id or folder, safetensors only) for previews and fast final decodes."""
    from diffusers import AutoencoderTiny

    check_safetensors_source(source, "preview VAE")
    try:
        vae = AutoencoderTiny.from_pretrained(source, **dtype_argument(dtype), use_safetensors=True)
    except OSError as error:
        raise ModelNotFound(f"cannot load preview VAE {source!r}: {error}") from error
    # channels_last: TAESD's 4-latent decode at 512x512 took 3.7 s instead of 4.9 s on the 2-core CPU
    # (bench/cpu_cost.py, docs/PERFORMANCE.md); on CUDA every VAE gets it anyway.
    import torch

    return vae.to(device, memory_format=torch.channels_last).eval()


@contextlib.contextmanager
def swapped_vae(pipe: Any, vae: Any) -> Iterator[None]:
    """While active, `pipe` encodes and decodes with `vae` (None: leave the model's own in place)."""
    if vae is None:
        yield
        return
    own = pipe.vae
    pipe.vae = vae
    try:
        yield
    finally:
        pipe.vae = own


def optimize(pipe: Any, *, channels_last: bool = True, compile: bool = False, compile_vae: bool = True) -> None:
    """Speed up `pipe` in place: channels_last convolutions, optionally torch.compile of the UNet and (with
    `compile_vae`) the VAE decoder.

    Attention already runs through PyTorch's SDPA (diffusers' default processor with torch 2). Compilation is
    slow the first time (minutes); inductor's on-disk cache (TORCHINDUCTOR_CACHE_DIR, which bot/config.py points
    into the data folder) makes later starts reuse it.
    """
    import torch

    if channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if compile:
        torch._inductor.config.fx_graph_cache = True
        # dynamic=True: one graph serves every batch and --ar size instead of a recompile per shape.
        pipe.unet = torch.compile(pipe.unet, fullgraph=True, dynamic=True)
        if compile_vae:
            pipe.vae.decode = torch.compile(pipe.vae.decode, dynamic=True)


def img2img_from(pipe: Any) -> Any:
    """An image-to-image pipeline sharing `pipe`'s weights (from_pipe: nothing is loaded twice)."""
    from diffusers import AutoPipelineForImage2Image

    img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    return img2img


def inpaint_from(pipe: Any) -> Any:
    """An inpainting pipeline sharing `pipe`'s weights; with a plain 4-channel UNet it blends latents by the mask."""
    from diffusers import AutoPipelineForInpainting

    inpaint = AutoPipelineForInpainting.from_pipe(pipe)
    inpaint.set_progress_bar_config(disable=True)
    return inpaint


def load_upscaler(model: str, device: str, dtype: Any) -> Any:
    """A diffusers 2x latent upscaler (e.g. stabilityai/sd-x2-latent-upscaler), safetensors only."""
    from diffusers import StableDiffusionLatentUpscalePipeline

    check_model_source(model)
    try:
        pipe = StableDiffusionLatentUpscalePipeline.from_pretrained(
            model, **dtype_argument(dtype), use_safetensors=True
        )
    except OSError as error:
        raise ModelNotFound(f"cannot load upscaler {model!r}: {error}") from error
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@contextlib.contextmanager
def seamless_tiling(pipe: Any, enabled: bool) -> Iterator[None]:
    """While active, every Conv2d of the UNet and VAE pads circularly, so images wrap at their edges."""
    import torch

    if not enabled:
        yield
        return
    convs = [m for model in (pipe.unet, pipe.vae) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    saved = [conv.padding_mode for conv in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, saved):
            conv.padding_mode = mode


@contextlib.contextmanager
def low_memory_vae(pipe: Any) -> Iterator[None]:
    """While active, the VAE decodes image by image and in tiles (used when retrying after out-of-memory)."""
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    try:
        yield
    finally:
        pipe.vae.disable_tiling()
        pipe.vae.disable_slicing()


def free_accelerator_memory() -> None:
    """Return cached CUDA memory to the driver (no-op without CUDA)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
