"""NSFW classifier benchmark: load time and time per image (single and in a batch of 4) on this machine's CPU.

    python bench/nsfw_bench.py [--images 20] [--side 512] [--threads N]

The worker scores every output image in its generation thread, so this is time added to each job (a grid is a
batch of 4), never time on the event loop. Prints a Markdown table with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from generation.nsfw import NsfwClassifier  # noqa: E402


def _images(count: int, side: int) -> list[Image.Image]:
    """Synthetic noise images: the classifier's cost does not depend on content."""
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(count)]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    classifier = NsfwClassifier(threads=args.threads)
    classifier.warm_up()
    load_s = time.perf_counter() - started
    images = _images(args.images, args.side)
    single = []
    for image in images:
        t = time.perf_counter()
        classifier.score([image])
        single.append(time.perf_counter() - t)
    batched = []
    for i in range(0, len(images) - 3, 4):
        t = time.perf_counter()
        classifier.score(images[i:i + 4])
        batched.append((time.perf_counter() - t) / 4)
    load_after = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"images: {args.images} of {args.side}x{args.side}; onnxruntime threads: {args.threads or 'default'}\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| model load + warm-up | {load_s * 1000:.0f} ms |")
    print(f"| one image: median / p90 | {statistics.median(single) * 1000:.0f} ms / "
          f"{statistics.quantiles(single, n=10)[-1] * 1000:.0f} ms |")
    if batched:
        print(f"| per image in a batch of 4 (a grid): median | {statistics.median(batched) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
