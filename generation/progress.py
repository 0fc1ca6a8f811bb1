"""Step-by-step progress from a running pipeline: Progress events, latent previews, cancellation.

Without extra weights, previews map the 4 SD latent channels to RGB by a fixed linear projection (AUTOMATIC1111's
"Approx cheap") every few steps. With a TAESD decoder (`model.preview_vae`, an AutoencoderTiny) they are true-colour
images, every step: TAESD decodes a 512x512 latent in milliseconds on a GPU.
"""

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generation.errors import GenerationCancelled
from generation.grid import make_grid
from generation.requests import Progress

# Rows: latent channels 0-3; columns: R, G, B.
LATENT_RGB = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)
PREVIEW_EVERY = 5
PREVIEW_SCALE = 4  # latents are 1/8 of the image; previews are 1/2


def latents_to_preview(latents: Any) -> Any:
    """A small RGB grid of the batch's latents (N, 4, h, w) by fixed linear projection; None for other shapes."""
    import torch
    from PIL import Image

    if latents.ndim != 4 or latents.shape[1] != len(LATENT_RGB):
        return None
    projection = torch.tensor(LATENT_RGB, dtype=torch.float32)
    rgb = torch.einsum("nchw,cr->nhwr", latents.detach().float().cpu(), projection)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    tiles = [Image.fromarray(tile, "RGB") for tile in pixels]
    grid = make_grid(tiles)
    return grid.resize((grid.width * PREVIEW_SCALE, grid.height * PREVIEW_SCALE), Image.Resampling.BILINEAR)


def tiny_vae_preview(vae: Any, latents: Any) -> Any:
    """A full-size RGB grid of the batch's latents decoded by an AutoencoderTiny (TAESD); None for other shapes."""
    import torch
    from PIL import Image

    if latents.ndim != 4 or latents.shape[1] != vae.config.latent_channels:
        return None
    with torch.no_grad():  # TAESD reads the pipeline's scaled latents directly (its scaling factor is 1)
        images = vae.decode(latents.to(device=vae.device, dtype=vae.dtype)).sample
    pixels = ((images.float() + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return make_grid([Image.fromarray(tile, "RGB") for tile in pixels])


def preview_jpeg(image: Any, quality: int = 80) -> bytes:
    """`image` encoded as a small JPEG (fast enough to write on every preview)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_preview(image: Any, path: Path, quality: int = 80) -> Path:
    """Write `image` as JPEG to `path` atomically (readers never see half a file); return `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(preview_jpeg(image, quality))
    os.replace(temporary, path)
    return path


class StepReporter:
    """A `callback_on_step_end` for diffusers that reports Progress and raises GenerationCancelled when asked.

    When a run is split into several pipeline calls (out-of-memory retry), `start_call` makes steps count on
    across the calls.
    """

    def __init__(
        self,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        preview_every: int = PREVIEW_EVERY,
        preview_vae: Any = None,
    ) -> None:
        self.on_progress = on_progress
        self.cancel = cancel
        # With TAESD a preview is a real decode, cheap enough for every step.
        self.preview_vae = preview_vae
        self.preview_every = 1 if preview_vae is not None else preview_every
        self.call_index, self.call_count = 0, 1

    def start_call(self, index: int, count: int) -> None:
        """Say that pipeline call `index` (0-based) of `count` begins."""
        self.call_index, self.call_count = index, count

    def check_cancelled(self, step: int) -> None:
        """Raise GenerationCancelled if the cancel Event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise GenerationCancelled(f"cancelled after {step} steps")

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """Called by diffusers after denoising step `step` (0-based)."""
        per_call = pipe.num_timesteps
        done = self.call_index * per_call + step + 1
        self.check_cancelled(done - 1)
        if self.on_progress is not None:
            preview = None
            last = step + 1 == per_call
            if self.preview_every and (step + 1) % self.preview_every == 0 and not last:
                latents = callback_kwargs["latents"]
                preview = (tiny_vae_preview(self.preview_vae, latents) if self.preview_vae is not None
                           else latents_to_preview(latents))
            self.on_progress(Progress(step=done, total=per_call * self.call_count, preview=preview))
        return callback_kwargs
