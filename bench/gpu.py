"""The GPU reference job against plain eager diffusers, in one run: seconds, MFU, UNet per step, VAE decode.

Reference job: the SD 1.5 architecture (random weights from its published config: cost does not depend on
weights), 4 images at 512x512, 30 steps with classifier-free guidance (UNet batch 8): 202.9 TFLOP in all.
MFU = 202.9e12 / seconds / the device's peak dense fp16/bf16 FLOP/s.

    python bench/gpu.py                          # needs CUDA: plain eager fp16 vs ours (channels_last + compile)
    python bench/gpu.py --no-compile             # ours without torch.compile
    python bench/gpu.py --tiny                   # the same code path on toy configs, on the CPU (the tests)

"Ours" is generation.pipelines.optimize(): half precision, PyTorch SDPA attention, channels_last, and optionally
torch.compile of the UNet and VAE decoder (inductor's cache: TORCHINDUCTOR_CACHE_DIR, kept across restarts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCE_FLOP = 202.9e12
GRID, STEPS, SIDE = 4, 30, 512
# Dense fp16/bf16 tensor-core peaks (FLOP/s) by device-name substring; --peak-tflops overrides.
PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
         "4090": 165e12, "3090": 71e12, "T4": 65e12}


def build_pipeline(tiny: bool, dtype: Any, device: str) -> Any:
    """A StableDiffusionPipeline of the SD 1.5 architecture (or toy sizes) with random weights."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from bench.cpu_cost import CLIP_L, SD15_UNET, SD_VAE, TINY
    from tests.tiny_model import _write_tokenizer_files

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(TINY["unet"] if tiny else SD15_UNET))
    vae = AutoencoderKL(**(TINY["vae"] if tiny else SD_VAE))
    text = CLIPTextModel(CLIPTextConfig(**(TINY["clip_l"] if tiny else CLIP_L)))
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-gpu-tokenizer"
    _write_tokenizer_files(folder)  # byte-level vocab: token counts differ from CLIP's, compute does not
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


def synchronize(device: str) -> None:
    """Wait for queued kernels (timing needs it on CUDA)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_job(pipe: Any, device: str, side: int, steps: int, repeats: int) -> list[float]:
    """Seconds of the whole job (text encoding, denoising, VAE decode to PIL), `repeats` times after a warm-up."""
    import torch

    def job() -> None:
        pipe(["a lighthouse at dusk"] * GRID, negative_prompt=[""] * GRID, height=side, width=side,
             num_inference_steps=steps, guidance_scale=7.0,
             generator=[torch.Generator("cpu").manual_seed(s) for s in range(GRID)])

    job()  # warm-up: cuDNN autotuning, compilation
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        job()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def time_unet(pipe: Any, device: str, side: int, batch: int, repeats: int) -> float:
    """Median seconds of one UNet call at `batch` latents."""
    import torch

    dtype = pipe.unet.dtype
    latents = torch.randn(batch, 4, side // 8, side // 8, device=device, dtype=dtype)
    context = torch.randn(batch, 77, pipe.unet.config.cross_attention_dim, device=device, dtype=dtype)
    seconds = []
    with torch.inference_mode():
        for index in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            pipe.unet(latents, torch.tensor(999, device=device), encoder_hidden_states=context)
            synchronize(device)
            if index:  # the first call warms up
                seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def time_vae(pipe: Any, device: str, side: int, repeats: int) -> float:
    """Median seconds of decoding 4 latents with the full VAE."""
    import torch

    latents = torch.randn(GRID, 4, side // 8, side // 8, device=device, dtype=pipe.vae.dtype)
    seconds = []
    with torch.inference_mode():
        for index in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            pipe.vae.decode(latents)
            synchronize(device)
            if index:
                seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def peak_flops(device: str, override: float | None) -> float | None:
    """The device's dense half-precision peak, from --peak-tflops or its name."""
    import torch

    if override:
        return override * 1e12
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAKS.items() if key in name), None)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Plain eager diffusers, then ours, on the same device in the same run."""
    import torch

    from generation.pipelines import optimize

    device = "cpu" if args.tiny else "cuda"
    if args.tiny:  # one thread: on a busy machine, OpenMP barriers between 2 threads cost a time slice per op
        torch.set_num_threads(1)
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs CUDA (or --tiny for a CPU check of the script)")
    side, steps = (64, 2) if args.tiny else (SIDE, STEPS)
    dtype = torch.float32 if args.tiny else getattr(torch, args.dtype)
    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (tiny check)",
                               "torch": torch.__version__, "dtype": str(dtype), "side": side, "steps": steps,
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    peak = peak_flops(device, args.peak_tflops)
    for name in ("plain", "ours"):
        pipe = build_pipeline(args.tiny, dtype, device)
        if name == "ours":
            optimize(pipe, channels_last=True, compile=args.compile)
        seconds = time_job(pipe, device, side, steps, args.repeats)
        median = statistics.median(seconds)
        figures = {"job_s": round(median, 4), "runs_s": [round(s, 4) for s in seconds],
                   "vae_decode_4_s": round(time_vae(pipe, device, side, args.repeats), 4)}
        for batch in (2, 8, 16):
            figures[f"unet_step_batch_{batch}_s"] = round(time_unet(pipe, device, side, batch, args.repeats), 5)
        if peak and not args.tiny:
            figures["mfu"] = round(REFERENCE_FLOP / median / peak, 3)
        results[name] = figures
        print(name, figures, flush=True)
        del pipe
    results["speedup_plain_over_ours"] = round(results["plain"]["job_s"] / results["ours"]["job_s"], 2)
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse options, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("float16", "bfloat16"), default="float16")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, help="the device's dense fp16/bf16 peak, if not in the table")
    parser.add_argument("--tiny", action="store_true", help="toy configs on the CPU: checks the script only")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeats = min(args.repeats, 2)
    results = measure(args)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
