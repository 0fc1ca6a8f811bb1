"""LoRA and embeddings: prompt syntax, per-job loading that never leaks, A1111 metadata, plain-diffusers reproduction."""

import hashlib
import re

import pytest

from generation.errors import GenerationError, PromptError
from generation.networks import LoraFile, embeddings_in, resolve_lora_tags, strip_lora_tags
from generation.outputs import write_outputs
from generation.prompt_params import PromptDefaults, parse_prompt
from tests.generation.conftest import mean_abs_difference, tiny_request
from tests.generation.reference import read_parameters, tile_noise
from tests.tiny_networks import build_tiny_embedding, build_tiny_lora

ONE_LEVEL = 1.0
KNOWN = {"ink": LoraFile("ink.safetensors", 0.8), "film.grain": LoraFile("film.safetensors")}


@pytest.fixture(scope="module")
def files(tiny_model_dir, tmp_path_factory):
    """Two tiny random LoRAs and one 2-vector embedding for the tiny model."""
    folder = tmp_path_factory.mktemp("networks")
    return {"ink": build_tiny_lora(tiny_model_dir, folder / "ink.safetensors", seed=1),
            "film": build_tiny_lora(tiny_model_dir, folder / "film.safetensors", seed=2),
            "glowy": build_tiny_embedding(folder / "glowy.safetensors", seed=3)}


@pytest.fixture(scope="module")
def networks_engine(tiny_model_dir, files):
    """An Engine on the tiny model with both LoRAs (ink at weight 0.8) and the embedding configured."""
    from generation.engine import Engine

    return Engine(str(tiny_model_dir), device="cpu", embeddings={"glowy": str(files["glowy"])},
                  loras={"ink": LoraFile(str(files["ink"]), 0.8), "film": LoraFile(str(files["film"]))})


def test_lora_weight_is_written_out():
    """`<lora:ink>` gets the configured weight written into the prompt; a given weight is kept as written."""
    assert resolve_lora_tags("a cat <lora:ink>, <lora:film.grain:0.50>", KNOWN) == (
        "a cat <lora:ink:0.8>, <lora:film.grain:0.50>")


@pytest.mark.parametrize(("prompt", "message"), [
    ("a cat <lora:oil>", r"unknown LoRA 'oil' in <lora:oil>; known LoRAs: film.grain, ink"),
    ("a cat <lora:ink:0.5> <lora:ink>", "LoRA 'ink' is used twice"),
    ("a cat <lora:ink:strong>", r"the weight must be a number from -4 to 4, got 'strong'"),
    ("a cat <lora:ink:9>", r"from -4 to 4, got '9'"),
    ("a cat <lora:ink:0.5:0.2>", r"write <lora:name> or <lora:name:weight>"),
])
def test_bad_lora_tags_are_refused(prompt, message):
    """Unknown names (with the known list), repeats, bad weights and extra parts raise PromptError."""
    with pytest.raises(PromptError, match=message):
        resolve_lora_tags(prompt, KNOWN)


def test_lora_without_configured_loras_says_so():
    """On a server without LoRAs the refusal says none are configured."""
    with pytest.raises(PromptError, match="no LoRAs are configured on this server"):
        parse_prompt("a cat <lora:ink:1>")


def test_prompt_flags_keep_lora_tags_in_the_prompt():
    """parse_prompt checks tags against the configured LoRAs and refuses a tag inside a flag's value."""
    defaults = PromptDefaults(loras=KNOWN)
    assert parse_prompt("a cat <lora:ink> --seed 3", defaults).prompt == "a cat <lora:ink:0.8>"
    with pytest.raises(PromptError, match="before the --flags"):
        parse_prompt("a cat --no fog <lora:ink>", defaults)


def test_encoder_text_drops_only_the_tags():
    """The text encoder reads the prompt without its tags, everything else untouched (as A1111 does)."""
    assert strip_lora_tags("a cat, <lora:ink:0.8> at dusk<LORA:film:1>") == "a cat,  at dusk"


def test_embeddings_are_found_as_whole_words():
    """An embedding's name counts only as a word of its own, in the prompt or the negative prompt."""
    names = {"glowy": "g.safetensors", "bad-hands": "b.safetensors"}
    assert embeddings_in(["a glowy cat", "bad-hands"], names) == ["bad-hands", "glowy"]
    assert embeddings_in(["glowyness, not-bad-hands-5"], names) == []


def test_lora_job_changes_images_and_records_a1111_metadata(networks_engine, engine, files):
    """A LoRA job differs from the base model and records `<lora:ink:0.8>` in the prompt plus `Lora hashes`."""
    base = engine.run(tiny_request(seeds=(5,)))
    result = networks_engine.run(tiny_request(seeds=(5,), prompt="a lighthouse <lora:ink>"))
    assert mean_abs_difference(base.images[0], result.images[0]) > 1
    digest = hashlib.sha256(files["ink"].read_bytes()).hexdigest()[:12]
    assert result.infotexts[0].startswith("a lighthouse <lora:ink:0.8>\n")
    assert f'Lora hashes: "ink: {digest}"' in result.infotexts[0]


def test_embedding_word_changes_images_and_records_ti_hashes(networks_engine, engine, files):
    """An embedding's name in the prompt loads its vectors (the images change) and records `TI hashes`."""
    request = tiny_request(seeds=(5,), prompt="a glowy lighthouse")
    result = networks_engine.run(request)
    assert mean_abs_difference(engine.run(request).images[0], result.images[0]) > 0.5  # tiny text encoder: small
    digest = hashlib.sha256(files["glowy"].read_bytes()).hexdigest()[:12]
    assert f'TI hashes: "glowy: {digest}"' in result.infotexts[0]


def test_loras_and_embeddings_never_leak_into_the_next_job(networks_engine, engine):
    """After a job with two LoRAs and an embedding, the same prompt and seed without them gives the base images."""
    request = tiny_request(prompt="a lighthouse")
    before = networks_engine.run(request)
    networks_engine.run(tiny_request(prompt="a glowy lighthouse <lora:ink:0.7> <lora:film:-0.5>"))
    after = networks_engine.run(request)
    base = engine.run(request)  # an engine that never saw a network
    assert [mean_abs_difference(a, b) for a, b in zip(before.images, after.images)] == [0.0] * 4
    assert [mean_abs_difference(a, b) for a, b in zip(base.images, after.images)] == [0.0] * 4


def test_unknown_lora_reaching_the_engine_is_refused(networks_engine):
    """A prompt that skipped parse_prompt still cannot load an unconfigured LoRA."""
    with pytest.raises(PromptError, match=r"unknown LoRA 'oil' in <lora:oil:1>; known LoRAs: film, ink"):
        networks_engine.run(tiny_request(prompt="a cat <lora:oil:1>"))


def test_pickle_lora_is_never_loaded(tiny_model_dir, tmp_path):
    """A LoRA configured as a .pt file is refused by name before anything is read."""
    from generation.engine import Engine

    (tmp_path / "evil.pt").write_bytes(b"not loaded")
    pickled = Engine(str(tiny_model_dir), device="cpu", loras={"evil": LoraFile(str(tmp_path / "evil.pt"))})
    with pytest.raises(GenerationError, match=r"LoRA 'evil' is .*evil.pt; only .safetensors files are loaded"):
        pickled.run(tiny_request(prompt="a cat <lora:evil:1>"))


@pytest.mark.filterwarnings("ignore:Already found a `peft_config` attribute:UserWarning")  # peft, on a 2nd adapter
def test_lora_and_embedding_job_reproduced_by_plain_diffusers(networks_engine, plain_txt2img, files, tmp_path):
    """Each tile of a job with two weighted LoRAs and an embedding is reproduced from its PNG and the files alone."""
    result = networks_engine.run(tiny_request(prompt="glowy lighthouse <lora:ink:0.6> <lora:film>", seeds=(8, 9)))
    paths = write_outputs(result, tmp_path).tiles
    try:
        # Networks as the PNG names them, loaded with diffusers' own API; the tags are removed from the text.
        params = read_parameters(paths[0])
        tags = re.findall(r"<lora:([^:>]+):([^>]+)>", params.prompt)
        hashes = dict(part.split(": ") for part in params.extra["Lora hashes"].split(", "))
        for name, _ in tags:
            assert hashlib.sha256(files[name].read_bytes()).hexdigest()[:12] == hashes[name]
            plain_txt2img.load_lora_weights(str(files[name]), adapter_name=name)
        plain_txt2img.set_adapters([name for name, _ in tags], adapter_weights=[float(w) for _, w in tags])
        plain_txt2img.load_textual_inversion(str(files["glowy"]), token="glowy")
        for image, path in zip(result.images, paths):
            params = read_parameters(path)
            noise, generator = tile_noise(params, (1, 4, params.height // 8, params.width // 8))
            plain = plain_txt2img(
                re.sub(r"<lora:[^>]*>", "", params.prompt), height=params.height, width=params.width,
                num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
                generator=generator, latents=noise,
            ).images[0]
            assert mean_abs_difference(image, plain) < ONE_LEVEL
    finally:
        plain_txt2img.unload_lora_weights()
        plain_txt2img.unload_textual_inversion()
