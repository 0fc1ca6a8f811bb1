"""/imagine end to end: the real discord.py bot, the fake Discord, a SQLite queue and the tiny diffusers model."""

from __future__ import annotations

import asyncio

from PIL import Image

from generation.metadata import parse_infotext
from tests.bot.conftest import TILE, BotRunner, custom_ids, forget_delivery, image_of, is_result, recorded_job, wait_result


async def test_imagine_posts_a_grid_with_nine_buttons(runner: BotRunner) -> None:
    """/imagine is acknowledged within 3 s, then one message with a 2x-tile PNG grid and U/V/re-roll buttons."""
    fake = runner.fake
    mark = fake.mark()
    inter = await fake.invoke_slash("imagine", {"prompt": "a lighthouse at dusk"}, user_id=fake.users[0])
    ack = await inter.wait_response(timeout=3)
    assert ack.elapsed_s < 3
    assert ack.ephemeral and "Queued as job #" in ack.content and "position 1" in ack.content
    result = await wait_result(fake, mark)
    grid = image_of(result)
    assert grid.format == "PNG" and grid.size == (2 * TILE, 2 * TILE)
    assert "a lighthouse at dusk" in result.content and f"<@{fake.users[0]}>" in result.content
    job_id = int(custom_ids(result)[0].split(":")[2])
    assert custom_ids(result) == [*(f"imagine:u:{job_id}:{t}" for t in range(1, 5)), f"imagine:r:{job_id}:0",
                                  *(f"imagine:v:{job_id}:{t}" for t in range(1, 5)), f"imagine:i:{job_id}:0",
                                  f"imagine:d:{job_id}:0"]
    assert [m for m in fake.channel_messages() if is_result(m)] == [result]


async def test_grid_png_carries_parameters_of_each_tile(runner: BotRunner) -> None:
    """The posted grid and the saved tiles carry A1111 parameters with the tile seeds S..S+3."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "red fox --seed 1234 --no blur"})
    result = await wait_result(fake, mark)
    info = parse_infotext(image_of(result).info["parameters"])
    assert (info.prompt, info.negative_prompt, info.seed) == ("red fox", "blur", 1234)
    job_id = int(custom_ids(result)[0].split(":")[2])
    folder = runner.config.outputs_dir / str(job_id)
    seeds = []
    for tile in range(1, 5):
        with Image.open(folder / f"tile-{tile}.png") as image:
            seeds.append(parse_infotext(image.info["parameters"]).seed)
    assert seeds == [1234, 1235, 1236, 1237]


async def test_reroll_makes_a_new_grid_with_new_seeds(runner: BotRunner) -> None:
    """Clicking 🔄 queues the same prompt with different seeds and posts a second grid."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a castle"})
    first = await wait_result(fake, mark)
    reroll = next(c for c in custom_ids(first) if c.startswith("imagine:r:"))
    mark = fake.mark()
    click = await fake.click(first.id, reroll, user_id=fake.users[1])
    assert (await click.wait_response(timeout=3)).ephemeral
    second = await wait_result(fake, mark)
    one, two = (parse_infotext(image_of(m).info["parameters"]) for m in (first, second))
    assert one.prompt == two.prompt == "a castle"
    assert one.seed != two.seed
    assert "re-roll of" in second.content


async def test_reroll_of_a_chaos_grid_rebuilds_its_chaos_seeds(runner: BotRunner) -> None:
    """🔄 on a --chaos grid posts a grid whose tiles blend variation seeds S'..S'+3 around the new seed S'."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a castle --chaos 20 --seed 5"})
    first = await wait_result(fake, mark)
    mark = fake.mark()
    await fake.click(first.id, next(c for c in custom_ids(first) if c.startswith("imagine:r:")))
    second = await wait_result(fake, mark)
    folder = runner.config.outputs_dir / custom_ids(second)[0].split(":")[2]
    tiles = []
    for tile in range(1, 5):
        with Image.open(folder / f"tile-{tile}.png") as image:
            tiles.append(parse_infotext(image.info["parameters"]))
    seed = tiles[0].seed
    assert seed != 5 and [t.seed for t in tiles] == [seed] * 4
    assert [t.variation_seed for t in tiles] == [(seed + i) % 2**32 for i in range(4)]
    assert {(t.chaos, t.variation_strength) for t in tiles} == {(20, 0.28)}


async def test_buttons_work_after_a_restart(runner: BotRunner) -> None:
    """A button on a message posted before the bot restarted still queues and delivers its job."""
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a tree"})
    old = await wait_result(fake, mark)
    await runner.restart()
    mark = fake.mark()
    click = await fake.click(old.id, next(c for c in custom_ids(old) if c.startswith("imagine:r:")))
    assert "Queued as job #" in (await click.wait_response(timeout=3)).content
    await wait_result(fake, mark)


async def test_bad_prompts_get_an_ephemeral_error_and_queue_nothing(runner: BotRunner) -> None:
    """Empty prompts, unknown flags and over-long prompts are refused privately; no job is stored."""
    fake = runner.fake
    long_prompt = " ".join(["lighthouse"] * 120)
    for prompt, needle in [("   ", "empty"), ("a cat --frobnicate 3", "--frobnicate"),
                           ("a cat --ar 99:1", "--ar"), (long_prompt, "tokens")]:
        inter = await fake.invoke_slash("imagine", {"prompt": prompt})
        reply = await inter.wait_response(timeout=3)
        assert reply.ephemeral and needle in reply.content, (prompt, reply.content)
    assert sum((await runner.bot.queue.counts()).values()) == 0


async def test_members_can_pick_a_configured_model(runner: BotRunner, tmp_path) -> None:
    """/imagine model:<name> runs on that model and records it; an unknown name is refused privately."""
    from dataclasses import replace

    other = tmp_path / "other-model"
    other.symlink_to(runner.config.model.default)
    runner.config = replace(runner.config, model=replace(runner.config.model, choices={"other": str(other)}))
    await runner.restart()
    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a boat", "model": "other"})
    picked = await wait_result(fake, mark)
    assert parse_infotext(image_of(picked).info["parameters"]).model == str(other)
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a boat"})
    default = await wait_result(fake, mark)
    assert parse_infotext(image_of(default).info["parameters"]).model == runner.config.model.default
    inter = await fake.invoke_slash("imagine", {"prompt": "a boat", "model": "nope"})
    assert "no model 'nope'" in (await inter.wait_response(timeout=3)).content


async def test_a_delivery_cut_off_after_posting_is_not_posted_again(runner: BotRunner) -> None:
    """If the bot died between posting a result and recording it, the next attempt finds the post instead."""

    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "a lantern"})
    posted = await wait_result(fake, mark)
    job_id = await recorded_job(runner, posted)
    await runner.stop()
    await forget_delivery(runner.config, job_id)
    await runner.start()
    await until_async(lambda: runner.bot.queue.get(job_id), lambda job: job.result_message_id == posted.id)
    assert [m.id for m in fake.channel_messages() if is_result(m)] == [posted.id]


async def until_async(fetch, condition, timeout: float = 20.0) -> None:
    """Poll an async getter until its value satisfies `condition`."""
    async with asyncio.timeout(timeout):
        while not condition(await fetch()):
            await asyncio.sleep(0.05)


async def test_a_locked_database_gets_a_clear_retry_message_in_time(runner: BotRunner) -> None:
    """SQLite locked by another writer past the busy timeout: acknowledged in 3 s, told to retry, nothing lost."""
    import sqlite3
    import threading

    fake = runner.fake
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "before the lock"})
    await wait_result(fake, mark)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        connection = sqlite3.connect(runner.config.database_url.split("///", 1)[1], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(30)
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        await asyncio.to_thread(locked.wait, 10)
        inter = await fake.invoke_slash("imagine", {"prompt": "during the lock"})
        ack = await inter.wait_response(timeout=3)
        assert ack.elapsed_s < 3
        async with asyncio.timeout(30):
            while inter.original is None or "busy" not in (inter.original.content or ""):
                await asyncio.sleep(0.05)
        assert "nothing was queued" in inter.original.content
    finally:
        release.set()
        await asyncio.to_thread(holder.join)
    mark = fake.mark()
    again = await fake.invoke_slash("imagine", {"prompt": "after the lock"})
    assert "Queued as job #" in (await again.wait_response(timeout=3)).content
    await wait_result(fake, mark)
    jobs = [await runner.bot.queue.get(job_id) for job_id in range(1, 4)]
    assert [job.prompt for job in jobs if job is not None] == ["before the lock", "after the lock"]
