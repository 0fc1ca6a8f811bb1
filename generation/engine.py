"""The Engine: one loaded model that turns GenerationRequests into images. Blocking; run it in a thread."""

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from generation import canvas, metadata, networks, pipelines
from generation.errors import GenerationError, OutOfMemory
from generation.progress import StepReporter
from generation.refine import load_init_image
from generation.requests import (
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    Progress,
)
from generation.samplers import make_scheduler, sampler_of
from generation.tokens import check_token_limit
from generation.variations import initial_noise


class Engine:
    """A text-to-image pipeline (and an image-to-image one sharing its weights), loaded once from safetensors.

    `upscaler` optionally names a diffusers 2x latent upscaler used by refine requests before their img2img pass;
    without it (the default) refines resize with Lanczos and need no extra weights. `loras` (name -> LoraFile) and
    `embeddings` (name -> safetensors path) are what prompts may use (see generation.networks), loaded per job.
    `lora` is fused into the weights at load (LCM-LoRA makes a base model few-step); such an engine serves only
    requests naming that LoRA. `preview_vae` (an AutoencoderTiny, TAESD) makes true-colour previews every step. On
    CUDA the UNet and VAE run channels_last, and with `compile` through torch.compile.
    """

    def __init__(self, model: str, device: str | None = None, dtype: Any = None, upscaler: str | None = None,
                 loras: Mapping[str, networks.LoraFile] | None = None,
                 embeddings: Mapping[str, str] | None = None, lora: str = "", preview_vae: str = "",
                 compile: bool = False) -> None:
        self.model = model
        self.lora = lora
        self.upscaler = upscaler
        self.loras, self.embeddings = dict(loras or {}), dict(embeddings or {})
        self._hashes: dict[tuple[str, float, int], str] = {}
        self._upscaler_pipe: Any = None
        self.device = pipelines.pick_device(device)
        self.dtype = pipelines.pick_dtype(self.device, dtype)
        self.pipe = pipelines.load_text2img(model, self.device, self.dtype)
        if lora:
            pipelines.fuse_lora(self.pipe, lora)
        if self.device.startswith("cuda"):
            pipelines.optimize(self.pipe, channels_last=True, compile=compile)
        elif compile:
            # On the 2-core CPU (docs/PERFORMANCE.md) the compiled SD-Turbo UNet stepped 25-36% faster after a 129 s
            # warm-up, a compiled TAESD decoded slower, and channels_last gained nothing steady: the UNet alone.
            pipelines.optimize(self.pipe, channels_last=False, compile=True, compile_vae=False)
        self._tiny_vaes: dict[str, Any] = {}
        self.preview_vae = self._tiny_vae(preview_vae) if preview_vae else None
        self._default_scheduler = self.pipe.scheduler
        # Sampler "default" is recorded as the named sampler it equals (SD 1.5: PNDM), so PNGs say what ran.
        self.default_sampler = sampler_of(self._default_scheduler)
        # Built now, while the model's own scheduler is in place; it shares every weight with `pipe`.
        self.img2img = pipelines.img2img_from(self.pipe)
        self._inpaint: Any = None  # built on first use, also sharing every weight
        self._lock = threading.Lock()  # one run at a time: runs swap schedulers and conv padding

    def _tiny_vae(self, source: str) -> Any:
        """The AutoencoderTiny at `source`, loaded once per engine."""
        if source not in self._tiny_vaes:
            self._tiny_vaes[source] = pipelines.load_tiny_vae(source, self.device, self.dtype)
        return self._tiny_vaes[source]

    def check_token_limit(self, prompt: str) -> int:
        """The token count of `prompt`; PromptError when the text encoder would truncate it."""
        return check_token_limit(self.pipe.tokenizer, prompt)

    def run(
        self,
        request: GenerationRequest,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Generate `request`'s images (one per seed) in one batched call; raise GenerationCancelled if cancelled."""
        # 1. Record which model made the images.
        if request.model and request.model != self.model:
            raise GenerationError(f"request is for model {request.model!r} but this engine holds {self.model!r}")
        if request.lora != self.lora:
            raise GenerationError(f"request is for LoRA {request.lora!r} but this engine fused {self.lora!r}")
        request = dataclasses.replace(request, model=self.model)
        if request.sampler == "default" and self.default_sampler:
            request = dataclasses.replace(request, sampler=self.default_sampler)
        # The recorded prompt keeps its <lora:...> tags with every weight written out, as A1111 records them.
        request = dataclasses.replace(request, prompt=networks.resolve_lora_tags(request.prompt, self.loras))
        loras, embeddings, hashes = self._job_networks(request)
        reporter = StepReporter(on_progress, cancel, preview_vae=self.preview_vae)
        reporter.check_cancelled(0)
        with self._lock:
            final_vae = self._tiny_vae(request.vae) if request.vae else None
            # 2. Pick the pipeline and final decoder for this kind of request (each call gets its own sampler, see
            # _generate).
            pipe = self._pipeline_for(request.kind)
            # 3. Denoise and decode, with circular padding while tiling is asked for.
            try:
                with networks.job_networks(pipe, loras, embeddings), pipelines.swapped_vae(pipe, final_vae), \
                        pipelines.seamless_tiling(pipe, request.tiling):
                    images = self._generate_with_retry(pipe, request, reporter)
                if request.mask_box is not None:  # only the painted area changes (generation.canvas)
                    images = canvas.paste_back(images, *canvas.canvas_images(request))
            finally:
                pipe.scheduler = self._default_scheduler
        # 4. Describe every image.
        upscaler = self.upscaler or "Lanczos"
        scheduler = type(self._default_scheduler).__name__
        infotexts = [metadata.infotext(request, index, upscaler, scheduler, hashes)
                     for index in range(request.num_images)]
        return GenerationResult(images=images, infotexts=infotexts, request=request)

    def _pipeline_for(self, kind: GenerationKind) -> Any:
        """The text-to-image, image-to-image or inpainting pipeline (all three share the loaded weights)."""
        if kind in (GenerationKind.refine, GenerationKind.img2img):
            return self.img2img
        if kind in (GenerationKind.inpaint, GenerationKind.outpaint):
            if self._inpaint is None:
                self._inpaint = pipelines.inpaint_from(self.pipe)
            return self._inpaint
        return self.pipe

    def _job_networks(self, request: GenerationRequest) -> tuple[list, list, dict[str, str]]:
        """(LoRAs as (name, path, weight), embeddings as (name, path), A1111's hash keys) that `request` uses."""
        loras = [(name, self.loras[name].path, weight) for name, weight in networks.lora_weights(request.prompt)]
        used = networks.embeddings_in([request.prompt, request.negative_prompt], self.embeddings)
        embeddings = [(name, self.embeddings[name]) for name in used]
        for kind, name, path in [("LoRA", n, p) for n, p, _ in loras] + [("embedding", n, p) for n, p in embeddings]:
            networks.check_network_file(kind, name, path)
        hashes = {}
        if loras:
            hashes["Lora hashes"] = ", ".join(f"{name}: {self._short_hash(path)}" for name, path, _ in loras)
        if embeddings:
            hashes["TI hashes"] = ", ".join(f"{name}: {self._short_hash(path)}" for name, path in embeddings)
        return loras, embeddings, hashes

    def _short_hash(self, path: str) -> str:
        """networks.short_hash, remembered while the file's modification time and size stay the same."""
        stat = os.stat(path)
        key = (path, stat.st_mtime, stat.st_size)
        if key not in self._hashes:
            self._hashes[key] = networks.short_hash(path)
        return self._hashes[key]

    def _generate_with_retry(self, pipe: Any, request: GenerationRequest, reporter: StepReporter) -> list[Any]:
        """All images in one call; after out-of-memory, once more one image per call with a low-memory VAE."""
        import torch

        # 1. The fast path: the whole batch at once.
        try:
            return self._generate(pipe, request, reporter, split=False)
        except torch.cuda.OutOfMemoryError:
            pass  # leave the except block first, so the failed attempt's tensors can be freed
        # 2. Free the cache and retry with the batch split, VAE sliced and tiled.
        pipelines.free_accelerator_memory()
        try:
            with pipelines.low_memory_vae(pipe):
                return self._generate(pipe, request, reporter, split=True)
        except torch.cuda.OutOfMemoryError as error:
            reason = str(error).splitlines()[0] if str(error) else "out of memory"
        pipelines.free_accelerator_memory()
        raise OutOfMemory(
            f"out of accelerator memory for {request.num_images} image(s) at {request.width}x{request.height}, "
            f"even one image at a time with VAE tiling ({reason}); try a smaller size"
        )

    def _generate(self, pipe: Any, request: GenerationRequest, reporter: StepReporter, split: bool) -> list[Any]:
        """Run the pipeline once for the batch, or once per image when `split`; fresh generators every time."""
        calls = self._pipeline_calls(request, split)
        seeds_per_call = [(seed,) for seed in request.seeds] if split else [request.seeds]
        images = []
        for index, (kwargs, seeds) in enumerate(zip(calls, seeds_per_call)):
            reporter.start_call(index, len(calls))
            # A fresh scheduler per call: they keep per-run state, and DPM++ SDE seeds its noise per image.
            pipe.scheduler = make_scheduler(request.sampler, self._default_scheduler, seeds)
            images.extend(self._call_pipeline(pipe, kwargs | {"callback_on_step_end": reporter}))
        return images

    def _call_pipeline(self, pipe: Any, kwargs: dict[str, Any]) -> list[Any]:
        """One diffusers call (tests replace this to inject out-of-memory errors)."""
        return pipe(**kwargs).images

    def _init_image(self, request: GenerationRequest) -> Any:
        """The img2img start image: the file resized with Lanczos, or for a refine, the upscaler model's output."""
        if request.kind != GenerationKind.refine or not self.upscaler:
            return load_init_image(request.init_image, request.width, request.height)
        import torch
        from PIL import Image

        # 1. The tile at its own size, 2x through the upscaler model, seeded by the refine's seed.
        if self._upscaler_pipe is None:
            self._upscaler_pipe = pipelines.load_upscaler(self.upscaler, self.device, self.dtype)
        with Image.open(request.init_image) as opened:
            tile = opened.convert("RGB")
        upscaled = self._upscaler_pipe(
            prompt=request.prompt, image=tile, num_inference_steps=20, guidance_scale=0.0,
            generator=torch.Generator("cpu").manual_seed(request.seeds[0]),
        ).images[0]
        # 2. Fit to the requested size when the scale was not 2x.
        if upscaled.size != (request.width, request.height):
            upscaled = upscaled.resize((request.width, request.height), Image.Resampling.LANCZOS)
        return upscaled

    def _pipeline_calls(self, request: GenerationRequest, split: bool) -> list[dict[str, Any]]:
        """Keyword arguments of each pipeline call for `request`: one call, or one per image when `split`."""
        # 1. Arguments shared by every kind.
        common = {
            "num_inference_steps": request.num_inference_steps,
            "guidance_scale": request.guidance_scale,
            "callback_on_step_end_tensor_inputs": ["latents"],
            "output_type": "pil",
        }
        n = request.num_images
        prompts, negatives = [networks.strip_lora_tags(request.prompt)] * n, [request.negative_prompt] * n
        # 2. Inpaint and outpaint: the canvas and its mask (generation.canvas), a generator per seed.
        if request.kind in (GenerationKind.inpaint, GenerationKind.outpaint):
            import torch

            image, mask = canvas.canvas_images(request)
            generators = [torch.Generator("cpu").manual_seed(seed) for seed in request.seeds]
            per_image = {"prompt": prompts, "negative_prompt": negatives, "image": [image] * n,
                         "mask_image": [mask] * n, "generator": generators}
            extra = common | {"strength": request.strength, "height": request.height, "width": request.width}
        # 3. Image-to-image: the init image per output, each with its own seed's generator.
        elif request.kind in (GenerationKind.refine, GenerationKind.img2img):
            import torch

            init = self._init_image(request)
            generators = [torch.Generator("cpu").manual_seed(seed) for seed in request.seeds]
            per_image = {"prompt": prompts, "negative_prompt": negatives, "image": [init] * n, "generator": generators}
            extra = common | {"strength": request.strength}
        # 4. From noise: our own initial latents (seeds, chain and variation seeds blended) and generators.
        else:
            unet_channels = self.pipe.unet.config.in_channels
            scale = self.pipe.vae_scale_factor
            shape = (1, unet_channels, request.height // scale, request.width // scale)
            latents, generators = initial_noise(request, shape, self.dtype)
            per_image = {
                "prompt": prompts, "negative_prompt": negatives,
                "latents": latents.to(self.device), "generator": generators,
            }
            extra = common | {"height": request.height, "width": request.width}
        if not split:
            return [per_image | extra]
        return [{key: value[i:i + 1] for key, value in per_image.items()} | extra for i in range(n)]
