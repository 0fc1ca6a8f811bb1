"""LoRAs and embeddings configured by the operator, used from /imagine through the fake Discord."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from generation.metadata import parse_infotext
from generation.networks import LoraFile
from tests.bot.conftest import BotRunner, image_of, wait_result
from tests.tiny_networks import build_tiny_embedding, build_tiny_lora


async def _with_networks(runner: BotRunner, tmp_path) -> dict:
    """Restart the bot with LoRA `ink` (weight 0.7) and embedding `glowy` configured; return their files."""
    files = {"ink": build_tiny_lora(runner.config.model.default, tmp_path / "ink.safetensors", seed=1),
             "glowy": build_tiny_embedding(tmp_path / "glowy.safetensors", seed=2)}
    runner.config = replace(runner.config, loras={"ink": LoraFile(str(files["ink"]), 0.7)},
                            embeddings={"glowy": str(files["glowy"])})
    await runner.restart()
    return files


async def test_lora_and_embedding_job_records_them_as_a1111_does(runner: BotRunner, tmp_path) -> None:
    """`<lora:ink>` and the word `glowy` run with the configured files; the PNG keeps the tag and both hashes."""
    files = await _with_networks(runner, tmp_path)
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a glowy castle <lora:ink> --seed 3"})
    info = parse_infotext(image_of(await wait_result(fake, mark)).info["parameters"])
    short = {name: hashlib.sha256(path.read_bytes()).hexdigest()[:12] for name, path in files.items()}
    assert (info.prompt, info.loras) == ("a glowy castle <lora:ink:0.7>", [("ink", 0.7)])
    assert (info.extra["Lora hashes"], info.extra["TI hashes"]) == (f"ink: {short['ink']}", f"glowy: {short['glowy']}")


async def test_unknown_lora_is_refused_with_the_known_names(runner: BotRunner, tmp_path) -> None:
    """A LoRA the operator did not configure is refused privately, naming the ones there are; nothing is queued."""
    await _with_networks(runner, tmp_path)
    inter = await runner.fake.invoke_slash("imagine", {"prompt": "a castle <lora:oil:0.5>"})
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "unknown LoRA 'oil'" in reply.content and "known LoRAs: ink" in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == 0
