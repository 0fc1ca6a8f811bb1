"""Info under a result, end to end: a private message whose /imagine line makes the same tiles again."""

from __future__ import annotations

import re
from dataclasses import replace

from PIL import Image

from generation.metadata import parse_infotext
from generation.prompt_params import parse_prompt
from tests.bot.conftest import BotRunner, custom_ids, wait_result


async def test_info_line_parsed_again_gives_the_tiles_parameters(runner: BotRunner) -> None:
    """Info answers privately; its /imagine line, parsed again, gives every tile's seed, size, steps, CFG, sampler."""
    runner.config = replace(runner.config, generation=replace(runner.config.generation, width=128, height=64))
    await runner.restart()
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "red fox --seed 1234 --ar 2:1 --no blur --steps 3 --s 250 "
                                                  "--sampler euler --tile"}, user_id=fake.users[0])
    result = await wait_result(fake, mark)
    job_id = int(custom_ids(result)[0].split(":")[2])
    click = await fake.click(result.id, f"imagine:i:{job_id}:0", user_id=fake.users[2])
    reply = await click.wait_response(timeout=3)
    assert reply.ephemeral and f"Job #{job_id}" in reply.content and "Sampler: Euler," in reply.content
    line = re.search(r"```\n(/imagine prompt: .*)\n```", reply.content)[1]
    spec = parse_prompt(line.removeprefix("/imagine prompt: "), runner.bot.prompt_defaults)
    again = spec.to_request(base_seed=0)
    job = await runner.bot.queue.get(job_id)
    assert again.sampler == job.params["sampler"] == "euler"
    for tile in range(1, 5):
        with Image.open(runner.config.outputs_dir / str(job_id) / f"tile-{tile}.png") as image:
            made = parse_infotext(image.info["parameters"])
        assert (again.prompt, again.negative_prompt, again.seeds[tile - 1]) == (made.prompt, made.negative_prompt,
                                                                               made.seed)
        assert (again.width, again.height, again.num_inference_steps) == (made.width, made.height, 3) == (128, 64, 3)
        assert (again.guidance_scale, again.tiling) == (made.guidance_scale, made.tiling)
