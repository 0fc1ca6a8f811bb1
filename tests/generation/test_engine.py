"""Engine.run on the tiny model: determinism, reproduction by plain diffusers, progress, cancel, tokens, OOM."""

import threading

import pytest
import torch

from generation.errors import (
    GenerationCancelled,
    GenerationError,
    OutOfMemory,
    PromptError,
)
from generation.outputs import write_outputs
from generation.requests import GenerationResult
from generation.tokens import count_tokens
from tests.generation.conftest import STEPS, mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters, tile_noise

ONE_LEVEL = 1.0  # one 8-bit level, the reproduction tolerance


def test_run_returns_one_image_per_seed(grid_result: GenerationResult):
    """A 4-seed request gives 4 RGB images at the requested size, each with an infotext."""
    assert [image.size for image in grid_result.images] == [(64, 64)] * 4
    assert len(grid_result.infotexts) == 4


def test_same_seeds_give_identical_images(engine, grid_result):
    """Running the same request again reproduces every pixel."""
    again = engine.run(tiny_request())
    assert [mean_abs_difference(a, b) for a, b in zip(grid_result.images, again.images)] == [0.0] * 4


def test_tiles_differ(grid_result):
    """The four tiles of a grid come from different seeds and look different."""
    first = grid_result.images[0]
    assert all(mean_abs_difference(first, other) > 5 for other in grid_result.images[1:])


def test_result_records_engine_model(engine, grid_result):
    """The result's request and infotext name the model the engine holds."""
    assert grid_result.request.model == engine.model
    assert f"Model: {engine.model}" in grid_result.infotexts[0]


def test_txt2img_tiles_reproduced_by_plain_diffusers(grid_result, plain_txt2img, tmp_path):
    """Each saved tile is reproduced by a plain batched diffusers call with generators from its PNG metadata."""
    files = write_outputs(grid_result, tmp_path)
    params = [read_parameters(path) for path in files.tiles]
    plain = plain_txt2img(
        params[0].prompt, num_images_per_prompt=4, height=params[0].height, width=params[0].width,
        num_inference_steps=params[0].num_inference_steps, guidance_scale=params[0].guidance_scale,
        generator=[torch.Generator("cpu").manual_seed(p.seed) for p in params],
    ).images
    assert max(mean_abs_difference(a, b) for a, b in zip(grid_result.images, plain)) < ONE_LEVEL


def test_single_tile_reproduced_alone_by_plain_diffusers(grid_result, plain_txt2img, tmp_path):
    """Tile 3 alone, from its own PNG's seed, matches within one 8-bit level."""
    path = write_outputs(grid_result, tmp_path).tiles[2]
    params = read_parameters(path)
    noise, generator = tile_noise(params, (1, 4, params.height // 8, params.width // 8))
    plain = plain_txt2img(
        params.prompt, height=params.height, width=params.width, num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale, generator=generator, latents=noise,
    ).images[0]
    assert mean_abs_difference(grid_result.images[2], plain) < ONE_LEVEL


def test_progress_reports_every_step(engine):
    """on_progress gets Progress(step, total) once per denoising step, in order (DDIM: one per step asked)."""
    events = []
    engine.run(tiny_request(sampler="ddim"), on_progress=events.append)
    assert [(event.step, event.total) for event in events] == [(step, STEPS) for step in range(1, STEPS + 1)]


def test_progress_includes_latent_previews(engine):
    """Every few steps the Progress carries a small RGB preview of the whole batch."""
    events = []
    engine.run(tiny_request(num_inference_steps=6), on_progress=events.append)
    previews = [event.preview for event in events if event.preview is not None]
    assert previews and previews[0].mode == "RGB" and previews[0].size == (2 * 8 * 4, 2 * 8 * 4)


def test_cancel_stops_at_next_step(engine):
    """Setting the cancel Event during step 1 stops the run before step 2 is reported."""
    cancel, events = threading.Event(), []

    def on_progress(progress):
        events.append(progress.step)
        cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.run(tiny_request(num_inference_steps=4), on_progress=on_progress, cancel=cancel)
    assert events == [1]


def test_cancel_before_start_runs_nothing(engine):
    """An already-set cancel Event raises before any step runs."""
    cancel, events = threading.Event(), []
    cancel.set()
    with pytest.raises(GenerationCancelled):
        engine.run(tiny_request(), on_progress=events.append, cancel=cancel)
    assert events == []


def test_request_for_another_model_is_refused(engine):
    """A request naming a different model raises GenerationError naming both models."""
    with pytest.raises(GenerationError, match="other-model"):
        engine.run(tiny_request(model="other-model"))


def test_sampler_choice_does_not_leak_into_next_run(engine, grid_result):
    """After a euler_a run, the default sampler gives the default images again."""
    engine.run(tiny_request(sampler="euler_a"))
    again = engine.run(tiny_request())
    assert mean_abs_difference(grid_result.images[0], again.images[0]) == 0.0


def test_count_tokens_includes_start_and_end(engine):
    """A one-letter prompt is three tokens: start, the letter, end."""
    assert count_tokens(engine.pipe.tokenizer, "a") == 3


def test_token_limit_names_the_count(engine):
    """A prompt over 77 tokens raises PromptError naming its length and the limit."""
    with pytest.raises(PromptError, match=r"is \d+ tokens long; the model reads at most 77"):
        engine.check_token_limit("lighthouse " * 20)


def _edge_gap(images) -> float:
    """Mean difference between the first and last pixel columns, over all images."""
    import numpy

    gaps = [numpy.abs(numpy.asarray(i, float)[:, 0] - numpy.asarray(i, float)[:, -1]).mean() for i in images]
    return float(numpy.mean(gaps))


def test_tiling_output_wraps_at_the_edges(engine, grid_result):
    """With tiling, left and right edges match better than in the same run without it."""
    tiled = engine.run(tiny_request(tiling=True))
    assert _edge_gap(tiled.images) < _edge_gap(grid_result.images)


def test_tiling_is_undone_after_the_run(engine, grid_result):
    """A plain run after a tiled one gives the plain images again."""
    engine.run(tiny_request(tiling=True))
    again = engine.run(tiny_request())
    assert mean_abs_difference(grid_result.images[1], again.images[1]) == 0.0


def test_out_of_memory_retries_one_image_at_a_time(engine, grid_result, monkeypatch):
    """After an injected OOM, the batch is rerun one image per call and gives the same images."""
    real_call, batch_sizes = engine._call_pipeline, []

    def flaky_call(pipe, kwargs):
        batch_sizes.append(len(kwargs["prompt"]))
        if len(batch_sizes) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_call(pipe, kwargs)

    monkeypatch.setattr(engine, "_call_pipeline", flaky_call)
    result = engine.run(tiny_request())
    assert batch_sizes == [4, 1, 1, 1, 1]
    assert max(mean_abs_difference(a, b) for a, b in zip(grid_result.images, result.images)) < ONE_LEVEL
    assert not engine.pipe.vae.use_tiling


def test_out_of_memory_twice_raises_clear_error(engine, monkeypatch):
    """When the split retry also runs out of memory, OutOfMemory names the size and the advice."""
    def always_oom(pipe, kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine, "_call_pipeline", always_oom)
    with pytest.raises(OutOfMemory, match="4 image.* at 64x64.*try a smaller size"):
        engine.run(tiny_request())


def test_cancel_from_another_thread(engine):
    """A run in a worker thread stops with GenerationCancelled when the caller's thread sets the Event."""
    cancel, started, outcome = threading.Event(), threading.Event(), []

    def on_progress(progress):
        started.set()
        cancel.wait(timeout=30)  # hold step 1 until the caller has cancelled

    def work():
        try:
            engine.run(tiny_request(num_inference_steps=4), on_progress=on_progress, cancel=cancel)
            outcome.append("finished")
        except GenerationCancelled:
            outcome.append("cancelled")

    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(timeout=30)
    cancel.set()
    worker.join(timeout=30)
    assert outcome == ["cancelled"]


def test_tiling_is_undone_after_a_cancelled_run(engine, grid_result):
    """Cancelling a tiled run still restores normal padding for the next run."""
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        engine.run(tiny_request(tiling=True), on_progress=lambda progress: cancel.set(), cancel=cancel)
    again = engine.run(tiny_request())
    assert mean_abs_difference(grid_result.images[0], again.images[0]) == 0.0


def test_progress_counts_on_across_split_retry(engine, monkeypatch):
    """After an OOM split, steps keep rising across the per-image calls up to a total for all of them."""
    real_call, calls, events = engine._call_pipeline, [], []

    def flaky_call(pipe, kwargs):
        calls.append(len(kwargs["prompt"]))
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real_call(pipe, kwargs)

    monkeypatch.setattr(engine, "_call_pipeline", flaky_call)
    engine.run(tiny_request(sampler="ddim"), on_progress=events.append)
    assert [event.step for event in events] == list(range(1, 4 * STEPS + 1))
    assert {event.total for event in events} == {4 * STEPS}


def test_run_leaves_the_model_scheduler_in_place(engine):
    """After a run with a named sampler, the pipelines hold the model's own scheduler again."""
    default = engine.pipe.scheduler
    engine.run(tiny_request(seeds=(1,), sampler="ddim"))
    assert engine.pipe.scheduler is default and engine.img2img.scheduler is default


def test_compile_on_a_cpu_compiles_the_unet_only(tiny_model_dir):
    """model.compile on a CPU wraps the UNet in torch.compile (it stepped faster there) and leaves the VAE eager
    (a compiled decoder measured slower); nothing is compiled until the first run."""
    from generation.engine import Engine

    compiled = Engine(str(tiny_model_dir), device="cpu", compile=True)
    assert isinstance(compiled.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert "decode" not in vars(compiled.pipe.vae)  # optimize() replaces the bound method when it compiles it
    assert compiled.pipe.unet.dtype == torch.float32
    eager = Engine(str(tiny_model_dir), device="cpu")
    assert not isinstance(eager.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
