"""What one 2x2 grid costs on this CPU: the default job against the fast (few-step + TAESD) job, side by side.

Weights cannot be downloaded here, but cost does not depend on weights: every model is built from its published
config with random weights (SD 1.5 UNet, SD-Turbo's UNet = SD 2.1's, the SD VAE decoder, TAESD, both CLIP text
encoders). Full 25-step runs would take ~25 minutes, so a few UNet steps are timed and the grid is extrapolated by
the formula printed beside each figure.

    python bench/cpu_cost.py                 # default vs fast, eager fp32, plus channels_last and bf16 variants
    python bench/cpu_cost.py --compile       # also torch.compile (inductor) of the turbo UNet and TAESD decoder
    python bench/cpu_cost.py --per-image     # time batch 1 and scale linearly (for a heavily loaded machine)
    python bench/cpu_cost.py --tiny          # the same code path on tiny configs (seconds; used by the tests)

The machine may be shared: `uptime`'s load average is printed beside every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch

GRID = 4  # images per job
DEFAULT_STEPS = 25
FAST_STEPS = (1, 4)

# Published configs (diffusers' config.json of each model), written inline: nothing is downloaded.
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
)
SD_TURBO_UNET = dict(  # stabilityai/sd-turbo (the SD 2.1 UNet)
    SD15_UNET, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
)
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
    sample_size=512,
)
TAESD = dict(  # madebyollin/taesd
    encoder_block_out_channels=(64, 64, 64, 64), decoder_block_out_channels=(64, 64, 64, 64),
    num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1), latent_channels=4,
)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
              vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu")
OPENCLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                  vocab_size=49408, max_position_embeddings=77, hidden_act="gelu")

TINY = {  # the same code path at toy sizes, for the test that keeps this script working
    "unet": dict(SD15_UNET, block_out_channels=(32, 64, 64, 64), cross_attention_dim=32, attention_head_dim=4,
                 sample_size=8),
    "turbo": dict(SD_TURBO_UNET, block_out_channels=(32, 64, 64, 64), cross_attention_dim=32,
                  attention_head_dim=(2, 2, 2, 2), sample_size=8),
    "vae": dict(SD_VAE, block_out_channels=(32, 32, 32, 32), sample_size=64),
    "taesd": dict(TAESD, decoder_block_out_channels=(16, 16, 16, 16), num_decoder_blocks=(1, 1, 1, 1),
                  encoder_block_out_channels=(16, 16, 16, 16), num_encoder_blocks=(1, 1, 1, 1)),
    "clip_l": dict(CLIP_L, hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2),
    "clip_h": dict(OPENCLIP_H, hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2),
}


def load() -> str:
    """The 1-minute load average, recorded beside each figure (the machine is shared)."""
    return f"{os.getloadavg()[0]:.2f}"


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls of `fn`."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def report(results: dict[str, Any], name: str, seconds: list[float], scale: int = 1) -> float:
    """Record and print one measurement: the median of its runs, times `scale` when batch 1 stood in for more."""
    median = statistics.median(seconds) * scale
    results["figures"][name] = {"median_s": round(median, 4), "runs_s": [round(s, 4) for s in seconds],
                                "scaled_from_batch_1_x": scale, "load1": load()}
    note = f" (batch 1 x {scale})" if scale > 1 else ""
    print(f"{name:<44} median {median:9.3f} s{note}  runs {[round(s, 2) for s in seconds]}  load {load()}",
          flush=True)
    return median


def free(*objects: Any) -> None:
    """Drop big models before building the next (keeps peak memory near one UNet)."""
    del objects
    gc.collect()


def unet_step(unet: Any, batch: int, side: int, context_dim: int, dtype: torch.dtype, channels_last: bool):
    """One denoising step's UNet call at `batch` latents of the image side `side`."""
    latents = torch.randn(batch, 4, side // 8, side // 8, dtype=dtype)
    if channels_last:
        latents = latents.to(memory_format=torch.channels_last)
    context = torch.randn(batch, 77, context_dim, dtype=dtype)
    timestep = torch.tensor(999)

    def run() -> None:
        with torch.inference_mode():
            unet(latents, timestep, encoder_hidden_states=context)

    return run


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the comparison; returns them as a dict (also printed)."""
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    configs = TINY if args.tiny else {"unet": SD15_UNET, "turbo": SD_TURBO_UNET, "vae": SD_VAE, "taesd": TAESD,
                                      "clip_l": CLIP_L, "clip_h": OPENCLIP_H}
    side = 64 if args.tiny else args.side
    steps = args.steps
    per = 2 * GRID if args.per_image else 1  # batch 1 stands for batch 8 (or 4) when timing per image
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
                   f"{torch.get_num_threads()}, torch {torch.__version__}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "side": side, "figures": {},
    }
    print(f"# {results['machine']}  {results['date']}  {side}x{side}  load at start {load()}", flush=True)
    f32 = torch.float32

    # 1. Text encoders: 4 prompts + 4 negatives (the engine passes one prompt per image) vs 4 prompts.
    for name, config, batch in (("clip_l", "clip_l", 2 * GRID), ("clip_h", "clip_h", GRID)):
        encoder = CLIPTextModel(CLIPTextConfig(**configs[config])).eval()
        ids = torch.randint(0, 49407 if not args.tiny else 30, (batch, 77))

        def encode(encoder: Any = encoder, ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                encoder(ids)

        encode()
        report(results, f"text {name} batch {batch}", timed(encode, max(1, steps)))
        free(encoder)

    # 2. SD 1.5 UNet with guidance: batch 8 (4 images x cond/uncond). A few steps, extrapolated to 25.
    unet = UNet2DConditionModel(**configs["unet"]).eval()
    run = unet_step(unet, 2 * GRID // per, side, configs["unet"]["cross_attention_dim"], f32, False)
    report(results, "sd15 unet step batch 8 (CFG) fp32", timed(run, steps), scale=per)
    free(unet, run)

    # 3. Full VAE decode of 4 latents.
    vae = AutoencoderKL(**configs["vae"]).eval()
    latents = torch.randn(GRID, 4, side // 8, side // 8)

    def decode_full() -> None:
        with torch.inference_mode():
            vae.decode(latents[: GRID // min(per, GRID)])

    report(results, "sd vae decode 4 images fp32", timed(decode_full, 1 if not args.tiny else 2),
           scale=min(per, GRID))
    free(vae)

    # 4. TAESD decode of 4 latents (eager, then the variants).
    taesd = AutoencoderTiny(**configs["taesd"]).eval()

    def decode_tiny(model: Any = taesd, layout: Any = torch.contiguous_format, dtype: torch.dtype = f32) -> None:
        with torch.inference_mode():
            model.decode(latents.to(dtype=dtype, memory_format=layout))

    decode_tiny()
    report(results, "taesd decode 4 images fp32", timed(decode_tiny, 3))
    taesd_cl = taesd.to(memory_format=torch.channels_last)
    decode_tiny(taesd_cl, torch.channels_last)
    report(results, "taesd decode 4 images fp32 channels_last",
           timed(lambda: decode_tiny(taesd_cl, torch.channels_last), 3))
    free(taesd_cl)
    taesd = AutoencoderTiny(**configs["taesd"]).eval()

    # 5. SD-Turbo UNet without guidance: batch 4; eager fp32, channels_last, bf16 (AVX512-BF16/AMX where present).
    turbo = UNet2DConditionModel(**configs["turbo"]).eval()
    context_dim = configs["turbo"]["cross_attention_dim"]
    fast_batch, fast_scale = GRID // min(per, GRID), min(per, GRID)
    run = unet_step(turbo, fast_batch, side, context_dim, f32, False)
    report(results, "turbo unet step batch 4 fp32", timed(run, steps), scale=fast_scale)
    turbo = turbo.to(memory_format=torch.channels_last)
    run = unet_step(turbo, fast_batch, side, context_dim, f32, True)
    report(results, "turbo unet step batch 4 fp32 channels_last", timed(run, steps), scale=fast_scale)
    if args.bf16:
        turbo = turbo.to(dtype=torch.bfloat16)
        run = unet_step(turbo, fast_batch, side, context_dim, torch.bfloat16, True)
        run()  # oneDNN picks its bf16 kernels on the first call
        report(results, "turbo unet step batch 4 bf16 channels_last", timed(run, steps), scale=fast_scale)
        turbo = turbo.to(dtype=f32)
    if args.compile:
        compiled = torch.compile(turbo)
        run = unet_step(compiled, fast_batch, side, context_dim, f32, True)
        start = time.perf_counter()
        run()
        results["figures"]["turbo unet torch.compile warm-up"] = {"seconds": round(time.perf_counter() - start, 1),
                                                                  "load1": load()}
        report(results, "turbo unet step batch 4 fp32 channels_last compiled", timed(run, steps), scale=fast_scale)
        tiny_compiled = torch.compile(taesd)
        decode_tiny(tiny_compiled)
        report(results, "taesd decode 4 images fp32 compiled", timed(lambda: decode_tiny(tiny_compiled), 3))
    free(turbo, run)
    summarize(results)
    return results


def summarize(results: dict[str, Any]) -> None:
    """Seconds per grid by explicit formula from the medians, and the fast/default ratio."""
    f = {name: value.get("median_s") for name, value in results["figures"].items()}
    turbo = min(v for k, v in f.items() if k.startswith("turbo unet step") and v is not None)
    taesd = min(v for k, v in f.items() if k.startswith("taesd decode") and v is not None)
    default = f["text clip_l batch 8"] + DEFAULT_STEPS * f["sd15 unet step batch 8 (CFG) fp32"] + \
        f["sd vae decode 4 images fp32"]
    grids = {"default (25 steps, CFG, full VAE)": (
        default, f"text_clip_l_b8 + {DEFAULT_STEPS} x sd15_unet_b8 + vae_decode_4 = {f['text clip_l batch 8']:.2f} + "
        f"{DEFAULT_STEPS} x {f['sd15 unet step batch 8 (CFG) fp32']:.2f} + {f['sd vae decode 4 images fp32']:.2f}")}
    for n in FAST_STEPS:
        seconds = f["text clip_h batch 4"] + n * turbo + taesd
        grids[f"fast ({n} step{'s' if n > 1 else ''}, no CFG, TAESD)"] = (
            seconds, f"text_clip_h_b4 + {n} x best_turbo_unet_b4 + best_taesd_4 = {f['text clip_h batch 4']:.2f} + "
            f"{n} x {turbo:.2f} + {taesd:.2f}")
    results["grids"] = {}
    print("\n# seconds per 2x2 grid (extrapolated from the medians above)")
    for name, (seconds, formula) in grids.items():
        ratio = default / seconds
        results["grids"][name] = {"seconds": round(seconds, 2), "formula": formula, "default_over_this": round(ratio, 1)}
        print(f"{name:<40} {seconds:9.1f} s   {ratio:6.1f}x faster than default   [{formula}]")


def main(argv: list[str] | None = None) -> int:
    """Parse options, measure, print (and optionally save JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument("--steps", type=int, default=3, help="UNet steps timed per variant (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to warm up on CPU)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 UNet variant")
    parser.add_argument("--per-image", action="store_true",
                        help="time UNets and the VAE at batch 1 and scale linearly (cost is ~linear in batch)")
    parser.add_argument("--tiny", action="store_true", help="toy configs: checks the script, measures nothing real")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = measure(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
