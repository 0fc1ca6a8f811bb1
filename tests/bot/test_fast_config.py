"""Config of fast models: [fast_models.<name>], model.fast and model.preview_vae, with errors naming the key."""

import pytest

from bot.config import ConfigError, FastModelSettings, parse_config
from generation.fast import FewStep

TURBO = {"model": "stabilityai/sd-turbo", "scheduler": "euler_trailing", "steps": 1, "decoder": "preview_vae"}


def test_fast_models_load_and_resolve_to_few_step_settings() -> None:
    """A turbo and an LCM-LoRA entry load; few_step() resolves the TAESD decoder from model.preview_vae."""
    config = parse_config({"model": {"fast": "turbo", "preview_vae": "madebyollin/taesd"},
                           "fast_models": {"turbo": TURBO, "lcm": {"model": "sd15", "lora": "lcm-lora-sdv1-5"}}}, {})
    assert config.fast_models["lcm"] == FastModelSettings(model="sd15", lora="lcm-lora-sdv1-5")
    assert config.few_step("turbo") == FewStep(model="stabilityai/sd-turbo", sampler="euler_trailing", steps=1,
                                               vae="madebyollin/taesd")
    assert config.few_step("lcm").vae == "" and config.few_step("lcm").sampler == "lcm"


@pytest.mark.parametrize(("toml", "message"), [
    ({"model": {"fast": "nope"}}, "model.fast = 'nope' names no [fast_models.<name>]"),
    ({"fast_models": {"t": TURBO}}, "needs model.preview_vae"),
    ({"fast_models": {"t": {"model": "m", "steps": 9}}}, "1 to 8 steps"),
    ({"fast_models": {"t": {"model": "m", "steps": "4"}}}, "fast_models.t.steps = '4'"),
    ({"fast_models": {"t": {"model": "m", "scheduler": "ddim"}}}, "scheduler must be one of lcm"),
    ({"fast_models": {"t": {"model": "m", "sheduler": "lcm"}}}, "unknown key fast_models.t.sheduler"),
    ({"fast_models": {"t": {"steps": 4}}}, "fast_models.t.model is missing"),
    ({"fast_models": {"t": {"model": "m", "decoder": "taesd"}}}, "decoder = 'taesd' must be full or preview_vae"),
    ({"model": {"choices": {"t": "x"}}, "fast_models": {"t": {"model": "m"}}}, "not in model.choices"),
])
def test_bad_fast_model_settings_name_key_and_value(toml: dict, message: str) -> None:
    """Each mistake in a fast model's table fails at start with a message naming it."""
    with pytest.raises(ConfigError, match="config: ") as error:
        parse_config(toml, {})
    assert message in str(error.value)
