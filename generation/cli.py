"""`python -m generation imagine "PROMPT" --seed 42 --model ID_OR_DIR --out grid.png`: one grid from the shell."""

import argparse
import random
import sys
from pathlib import Path

from generation.errors import GenerationError
from generation.pipelines import check_model_source
from generation.requests import GenerationKind, GenerationRequest, tile_seeds
from generation.samplers import A1111_NAMES, resolve_sampler

USAGE_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one stderr line (no usage block), exit status 2."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"error: {message} (see --help)\n")


def _sampler(name: str) -> str:
    """argparse type: a sampler id from any accepted spelling."""
    try:
        return resolve_sampler(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (one sub-command: imagine)."""
    parser = _OneLineParser(prog="python -m generation", description="Generate images with imagine-bot's engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    imagine = commands.add_parser("imagine", help="a 2x2 grid (and its tiles) from a prompt")
    imagine.add_argument("prompt", help="what to draw")
    imagine.add_argument("--model", required=True, help="hub id or local diffusers folder (safetensors only)")
    imagine.add_argument("--seed", type=int, default=None, help="base seed; tile i uses seed + i - 1 (random if left out)")
    imagine.add_argument("--out", type=Path, default=Path("grid.png"), help="grid PNG path; tiles go beside it")
    imagine.add_argument("--steps", type=int, default=25, help="denoising steps")
    imagine.add_argument("--width", type=int, default=512, help="tile width in pixels (multiple of 8)")
    imagine.add_argument("--height", type=int, default=512, help="tile height in pixels (multiple of 8)")
    imagine.add_argument("--negative", default="", help="negative prompt")
    imagine.add_argument("--cfg", type=float, default=7.0, help="guidance scale")
    imagine.add_argument("--sampler", default="default", type=_sampler,
                         help=f"scheduler: default (the model's own), {', '.join(A1111_NAMES)}, or a short id")
    imagine.add_argument("--tile", action="store_true", help="seamless tiling")
    imagine.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    return parser


def imagine(args: argparse.Namespace) -> list[Path]:
    """Generate the grid and its tiles; return the paths written (grid first)."""
    # 1. Validate the request before loading anything heavy.
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    request = GenerationRequest(
        kind=GenerationKind.txt2img, prompt=args.prompt, negative_prompt=args.negative,
        seeds=tile_seeds(seed, 4), width=args.width, height=args.height,
        num_inference_steps=args.steps, guidance_scale=args.cfg, sampler=args.sampler, tiling=args.tile,
    )
    if args.out.suffix.lower() != ".png":
        raise GenerationError(f"--out must end in .png, got {str(args.out)!r}")
    check_model_source(args.model)
    # 2. Load and run with a progress bar (torch is imported only now).
    from tqdm import tqdm
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # keep the terminal to our bar and errors
    transformers_logging.disable_progress_bar()
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    from generation.engine import Engine
    from generation.grid import make_grid
    from generation.outputs import save_png

    engine = Engine(args.model, device=args.device)
    engine.check_token_limit(request.prompt)
    with tqdm(total=request.num_inference_steps, unit="step", desc="imagine") as bar:
        def on_progress(progress):
            if bar.total != progress.total:  # some samplers take an extra warm-up step
                bar.total = progress.total
                bar.refresh()
            bar.update(progress.step - bar.n)

        result = engine.run(request, on_progress=on_progress)
    # 3. Write the grid where asked and the tiles beside it.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = [save_png(make_grid(result.images), args.out, result.infotexts[0])]
    for number, (image, text) in enumerate(zip(result.images, result.infotexts), start=1):
        written.append(save_png(image, args.out.with_name(f"{args.out.stem}-tile-{number}.png"), text))
    return written


def main(argv: list[str] | None = None) -> int:
    """Run the command line; bad input prints one line to stderr and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        paths = imagine(args)
    except (GenerationError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    for path in paths:
        print(path)
    return 0
