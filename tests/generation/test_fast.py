"""Fast (few-step) models on the tiny model: LCM-LoRA fused, TAESD decode and previews, Enhance, reproduction."""

import dataclasses
from pathlib import Path

import pytest
import torch

from generation.errors import GenerationError, PromptError, RequestError, UnsafeModelError
from generation.fast import FewStep, enhance_request, fast_request
from generation.outputs import write_outputs
from generation.progress import tiny_vae_preview
from generation.prompt_params import parse_prompt
from generation.requests import GenerationKind
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters, tile_noise

ONE_LEVEL = 1.0


@pytest.fixture(scope="module")
def few_step(tiny_model_dir: Path, tiny_lora_dir: Path, tiny_taesd_dir: Path) -> FewStep:
    """The tiny model with its LCM-style LoRA, 2 LCM steps, TAESD final decode."""
    return FewStep(model=str(tiny_model_dir), lora=str(tiny_lora_dir), sampler="lcm", steps=2,
                   vae=str(tiny_taesd_dir))


@pytest.fixture(scope="module")
def fast_engine(few_step: FewStep, tiny_taesd_dir: Path):
    """An Engine with the LoRA fused and TAESD previews."""
    from generation.engine import Engine

    return Engine(few_step.model, device="cpu", lora=few_step.lora, preview_vae=str(tiny_taesd_dir))


@pytest.fixture(scope="module")
def fast_result(fast_engine, few_step):
    """One fast 4-tile grid."""
    return fast_engine.run(fast_request(tiny_request(seeds=(7, 8, 9, 10)), few_step))


def test_fast_request_takes_the_models_steps_and_sampler_without_guidance(few_step):
    """fast_request keeps prompt and seeds and sets model, LoRA, VAE, sampler, steps and guidance 0."""
    fast = fast_request(tiny_request(guidance_scale=7.5, num_inference_steps=30), few_step)
    assert (fast.prompt, fast.seeds) == ("a lighthouse at dusk", (42, 43, 44, 45))
    assert (fast.model, fast.lora, fast.vae, fast.sampler) == (few_step.model, few_step.lora, few_step.vae, "lcm")
    assert (fast.num_inference_steps, fast.guidance_scale) == (2, 0.0)


@pytest.mark.parametrize(("changes", "needle"), [
    ({"steps": 9}, "1 to 8 steps"), ({"steps": 0}, "1 to 8 steps"), ({"sampler": "ddim"}, "scheduler"),
    ({"model": " "}, "needs a model"),
])
def test_few_step_settings_are_checked(changes, needle):
    """Steps outside 1-8, a non-few-step scheduler or an empty model are refused by name."""
    with pytest.raises(RequestError, match=needle):
        FewStep(**({"model": "m"} | changes))


def test_fast_grid_records_lora_vae_and_sampler(fast_result, few_step):
    """Every tile's infotext names the fused LoRA, the TAESD decoder, LCM, 2 steps and CFG 0."""
    text = fast_result.infotexts[0]
    assert f"Fused LoRA: {few_step.lora}" in text and f"VAE: {few_step.vae}" in text
    assert "Steps: 2, Sampler: LCM, CFG scale: 0.0, Seed: 7" in text


def test_fused_lora_changes_the_images(fast_engine, engine, few_step):
    """The same request without the LoRA, on the base engine, gives different images (the LoRA is really fused)."""
    request = dataclasses.replace(fast_request(tiny_request(), few_step), vae="")
    with_lora = fast_engine.run(request)
    without = engine.run(dataclasses.replace(request, lora=""))
    assert mean_abs_difference(with_lora.images[0], without.images[0]) > 1.0


def test_engine_refuses_a_request_for_another_lora(fast_engine, few_step):
    """An engine with a fused LoRA never runs a request that does not ask for it (and the reverse)."""
    with pytest.raises(GenerationError, match="LoRA"):
        fast_engine.run(tiny_request(model=few_step.model))


def test_fast_tiles_reproduced_by_plain_diffusers(fast_result, few_step, tmp_path):
    """Plain diffusers (load_lora_weights + fuse_lora, LCMScheduler, AutoencoderTiny) reproduces the saved tiles."""
    from diffusers import AutoencoderTiny, LCMScheduler, StableDiffusionPipeline

    files = write_outputs(fast_result, tmp_path)
    params = [read_parameters(path) for path in files.tiles]
    pipe = StableDiffusionPipeline.from_pretrained(params[0].model, use_safetensors=True)
    pipe.load_lora_weights(params[0].extra["Fused LoRA"])
    pipe.fuse_lora()
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    pipe.vae = AutoencoderTiny.from_pretrained(params[0].extra["VAE"], use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    shape = (1, 4, params[0].height // 8, params[0].width // 8)
    noises, generators = zip(*(tile_noise(p, shape) for p in params))
    plain = pipe([p.prompt for p in params], latents=torch.cat(noises), generator=list(generators),
                 num_inference_steps=params[0].num_inference_steps, guidance_scale=params[0].guidance_scale,
                 height=params[0].height, width=params[0].width).images
    assert max(mean_abs_difference(a, b) for a, b in zip(fast_result.images, plain)) < ONE_LEVEL


def test_taesd_previews_arrive_every_step(fast_engine, few_step):
    """With a preview VAE, every step but the last carries a true-colour preview grid at full size."""
    events = []
    fast_engine.run(fast_request(tiny_request(), few_step), on_progress=events.append)
    assert [e.step for e in events] == [1, 2]
    assert events[0].preview is not None and events[0].preview.size == (128, 128)
    assert events[-1].preview is None


def test_tiny_vae_preview_is_the_decoders_image(fast_engine):
    """The preview is the TAESD decode of the latents, tiled 2x2 (tile 4 bottom right)."""
    latents = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    preview = tiny_vae_preview(fast_engine.preview_vae, latents)
    with torch.no_grad():
        decoded = fast_engine.preview_vae.decode(latents).sample
    expected = ((decoded[3, :, 63, 63] + 1) * 127.5).clamp(0, 255).to(torch.uint8).tolist()
    assert preview.size == (128, 128)
    assert list(preview.getpixel((127, 127))) == expected


def test_unsafe_lora_is_refused(tiny_model_dir: Path, tmp_path: Path):
    """A LoRA given as a pickle file is refused before anything is loaded."""
    from generation.engine import Engine

    pickle = tmp_path / "lora.bin"
    pickle.write_bytes(b"not loaded")
    with pytest.raises(UnsafeModelError, match="safetensors"):
        Engine(str(tiny_model_dir), device="cpu", lora=str(pickle))


def test_euler_trailing_runs_a_one_step_grid(engine):
    """The SD-Turbo-style sampler (Euler, trailing spacing) makes a 1-step grid without guidance."""
    result = engine.run(tiny_request(sampler="euler_trailing", num_inference_steps=1, guidance_scale=0.0))
    assert len(result.images) == 4 and "Sampler: Euler, Schedule type: Trailing" in result.infotexts[0]


def test_enhance_request_keeps_the_tiles_noise_and_uses_the_full_model(few_step):
    """Enhance of tile 3 keeps seed, variation seed and chain, and takes the full model's settings."""
    parent = fast_request(tiny_request(kind=GenerationKind.variation, seeds=(5,) * 4, variation_seeds=(1, 2, 3, 4),
                                       variation_strength=0.2, variation_chain=((9, 0.1),)), few_step)
    child = enhance_request(parent, 3, model="full", num_inference_steps=25, guidance_scale=7.0, sampler="euler")
    assert (child.seeds, child.variation_seeds, child.variation_strength) == ((5,), (3,), 0.2)
    assert child.variation_chain == ((9, 0.1),)
    assert (child.model, child.lora, child.vae) == ("full", "", "")
    assert (child.num_inference_steps, child.guidance_scale, child.sampler) == (25, 7.0, "euler")


def test_enhance_refuses_image_to_image_parents(few_step):
    """Only grids made from noise can be enhanced."""
    parent = tiny_request(kind=GenerationKind.refine, seeds=(1,), init_image="x.png", strength=0.3)
    with pytest.raises(RequestError, match="Enhance"):
        enhance_request(parent, 1, model="m", num_inference_steps=20, guidance_scale=7.0, sampler="default")


def test_fast_flag_parses_and_refuses_step_and_guidance_flags():
    """--fast is a value-less flag; with --steps, --q, --sampler or --s it says which to drop."""
    assert parse_prompt("a fox --fast --ar 16:9").fast
    with pytest.raises(PromptError, match="drop --sampler, --steps"):
        parse_prompt("a fox --fast --steps 30 --sampler ddim")
    with pytest.raises(PromptError, match="takes no value"):
        parse_prompt("a fox --fast yes")
