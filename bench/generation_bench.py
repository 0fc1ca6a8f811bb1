"""Benchmark: our Engine.run against a plain diffusers call, side by side, same model, seeds and steps.

    python bench/generation_bench.py                       # builds the tiny test model, CPU
    python bench/generation_bench.py --model runwayml/stable-diffusion-v1-5 --size 512 --steps 25 --repeats 5

Runs alternate (plain, engine, plain, engine, ...) after one warm-up each, so drift hits both alike; prints the
median seconds of each and their ratio (engine / plain). Not a test: numbers depend on the machine.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="hub id or folder; default: build the tiny test model")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--size", type=int, default=64, help="image width and height")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each")
    parser.add_argument("--seed", type=int, default=42, help="base seed; 4 images use seed..seed+3")
    return parser.parse_args()


def timed(function) -> float:
    """Seconds one call of `function` takes, synchronising CUDA around it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    """Load both, warm up, time alternately, print medians and the ratio."""
    import torch
    from diffusers import AutoPipelineForText2Image

    from generation.engine import Engine
    from generation.pipelines import dtype_argument
    from generation.requests import GenerationKind, GenerationRequest

    args = parse_args()
    # 1. The model: a given one, or the tiny test model built in a temporary folder.
    workdir = tempfile.TemporaryDirectory()
    model = args.model
    if model is None:
        from tests.tiny_model import build_tiny_model

        model = str(build_tiny_model(Path(workdir.name) / "tiny-sd"))
    # 2. Our engine and a plain pipeline (loaded separately, same device and dtype).
    engine = Engine(model, device=args.device)
    plain = AutoPipelineForText2Image.from_pretrained(model, **dtype_argument(engine.dtype), use_safetensors=True)
    plain = plain.to(engine.device)
    plain.set_progress_bar_config(disable=True)
    seeds = tuple(args.seed + offset for offset in range(4))
    request = GenerationRequest(
        kind=GenerationKind.txt2img, prompt="a lighthouse at dusk, oil painting", seeds=seeds,
        width=args.size, height=args.size, num_inference_steps=args.steps,
    )

    def run_plain() -> None:
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        plain(request.prompt, num_images_per_prompt=4, width=args.size, height=args.size,
              num_inference_steps=args.steps, guidance_scale=request.guidance_scale, generator=generators)

    def run_engine() -> None:
        engine.run(request, on_progress=lambda progress: None)

    # 3. Warm up, then alternate.
    run_plain()
    run_engine()
    plain_times, engine_times = [], []
    for _ in range(args.repeats):
        plain_times.append(timed(run_plain))
        engine_times.append(timed(run_engine))
    # 4. Report.
    plain_median, engine_median = statistics.median(plain_times), statistics.median(engine_times)
    device_name = torch.cuda.get_device_name() if engine.device.startswith("cuda") else "cpu"
    print(f"model {model} on {device_name} ({engine.dtype}), 4 images {args.size}x{args.size}, {args.steps} steps, "
          f"{args.repeats} runs each")
    for name, times in (("plain diffusers", plain_times), ("Engine.run", engine_times)):
        print(f"{name:<16} median {statistics.median(times):.3f} s  min {min(times):.3f} s  "
              f"(all: {', '.join(f'{t:.3f}' for t in times)})")
    # On a busy shared machine the minimum is the better estimate of the cost itself.
    print(f"ratio engine/plain: median {engine_median / plain_median:.3f}, min {min(engine_times) / min(plain_times):.3f}")
    workdir.cleanup()


if __name__ == "__main__":
    main()
