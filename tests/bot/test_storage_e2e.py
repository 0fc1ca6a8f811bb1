"""Scale-out without a shared folder: one bot and two workers, each with its own data folder, sharing only the
database URL and an S3 bucket (moto on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.__main__ import _open_queue, _worker
from bot.config import Config, DiscordSettings, StorageSettings, WorkerSettings
from bot.data_cli import export_user
from bot.pruner import Pruner
from bot.startup import check_storage
from tests.bot.conftest import TILE, BotRunner, bot_config, custom_ids, image_of, is_result, wait_result
from tests.bot.test_variations_e2e import deferred_reply
from tests.fakediscord.server import FakeDiscord
from tests.s3_server import Bucket, s3_bucket, s3_endpoint  # noqa: F401

PREFIX = "imagine"


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _job_of(message) -> int:
    return int(custom_ids(message)[0].split(":")[2])


class Workers:
    """Stand-alone workers built as `python -m bot worker` builds them, each on its own data folder."""

    def __init__(self, configs: list[Config]) -> None:
        self.configs, self.stop = configs, asyncio.Event()
        self.engines: list = []
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        for config in self.configs:
            check_storage(config)  # the start check `python -m bot worker` runs
            engine, queue = await _open_queue(config)
            worker = _worker(config, queue, embedded=False)
            # Each real worker is its own process; two in one process must not load models at the same time
            # (accelerate's empty-weights loading patches torch globally), so each loads before it runs.
            await worker.warm_up()
            self.engines.append(engine)
            self.tasks.append(asyncio.create_task(worker.run(self.stop)))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        for engine in self.engines:
            await engine.dispose()


@dataclass
class Scaled:
    """The bot on folder A, the workers on B and C (started by each test), and the bucket they share."""

    runner: BotRunner
    workers: Workers
    bucket: Bucket


@pytest.fixture
async def scaled(discord_at_fake: FakeDiscord, tmp_path: Path, tiny_model_dir: Path,  # noqa: F811
                 s3_bucket: Bucket):  # noqa: F811
    """The bot without an embedded worker, and two workers not yet started."""
    storage = StorageSettings(backend="s3", bucket=s3_bucket.name, prefix=PREFIX, endpoint=s3_bucket.endpoint)
    config = replace(bot_config(discord_at_fake, tmp_path, tiny_model_dir), data_dir=tmp_path / "A", storage=storage,
                     worker=WorkerSettings(embedded=False))
    runner = BotRunner(discord_at_fake, config)
    await runner.start()
    # A worker gets no Discord settings: only the database URL, the bucket and the model.
    workers = Workers([replace(config, discord=DiscordSettings(), data_dir=tmp_path / name,
                               worker=WorkerSettings(embedded=False, id=f"worker-{name}")) for name in "BC"])
    try:
        yield Scaled(runner, workers, s3_bucket)
    finally:
        await workers.close()
        await runner.stop()


async def test_two_workers_share_only_the_database_and_the_bucket(scaled: Scaled, tmp_path: Path) -> None:
    """/imagine, a V1 click and an uploaded image's /vary: run by two workers, posted by the bot, through the bucket."""
    fake, bucket = scaled.runner.fake, scaled.bucket
    mark = fake.mark()
    for n in range(2):  # both queued before the workers start, so each worker claims one at once
        inter = await fake.invoke_slash("imagine", {"prompt": f"harbour {n} --seed {n + 1}"}, user_id=fake.users[n])
        assert "Queued as job #" in (await inter.wait_response(timeout=3)).content
    await scaled.workers.start()
    async with asyncio.timeout(60):
        while len(grids := [m for m in fake.channel_messages() if m.id > mark and is_result(m)]) < 2:
            await asyncio.sleep(0.05)
    assert all(image_of(grid).size == (2 * TILE, 2 * TILE) for grid in grids)

    mark = fake.mark()  # V1 reads the parent's tile, which only the bucket holds
    await fake.click(grids[0].id, f"imagine:v:{_job_of(grids[0])}:1", user_id=fake.users[0])
    variation = await wait_result(fake, mark)
    assert f"variations of #{_job_of(grids[0])}, tile 1" in variation.content

    mark = fake.mark()  # an upload goes from the bot to the bucket, and from there to a worker
    inter = await fake.invoke_slash("vary", {"prompt": "a blue square"},
                                    attachments={"image": ("blue.png", _png((64, 64)), "image/png")})
    assert "Queued as job #" in await deferred_reply(inter)
    from_upload = await wait_result(fake, mark)
    assert image_of(from_upload).size == (2 * TILE, 2 * TILE)

    job_ids = [_job_of(m) for m in (*grids, variation, from_upload)]
    jobs = [await scaled.runner.bot.queue.get(job_id) for job_id in job_ids]
    assert {job.worker_id for job in jobs} == {"worker-B", "worker-C"}
    keys = bucket.keys(f"{PREFIX}/")
    for job_id in job_ids:
        assert f"{PREFIX}/outputs/{job_id}/grid.png" in keys
    assert [key for key in keys if key.startswith(f"{PREFIX}/uploads/")] == [f"{PREFIX}/uploads/{inter.id}.png"]
    a = tmp_path / "A"  # the bot's folder: its database-free cache of what it posted, nothing a worker wrote
    assert not (a / "outputs").exists() and not any((a / "uploads").iterdir())
    assert sorted(p.name for p in (a / "cache" / "outputs").iterdir()) == sorted(str(j) for j in job_ids)
    for name in "BC":  # the workers keep nothing once it is in the bucket: no results, previews or fetched inputs
        assert [p for p in (tmp_path / name).rglob("*") if p.is_file() and p.suffix in (".png", ".jpg")] == []
        assert not any((tmp_path / name / "outputs").iterdir())


async def test_export_prune_and_gone_images_with_the_bucket(scaled: Scaled, tmp_path: Path) -> None:
    """`export` downloads a member's images from the bucket; the pruner deletes them there; buttons then say so."""
    runner, fake, bucket = scaled.runner, scaled.runner.fake, scaled.bucket
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": "an old harbour"}, user_id=fake.users[0])
    await scaled.workers.start()
    grid = await wait_result(fake, mark)
    job_id = _job_of(grid)

    jobs, files = await export_user(runner.config, fake.users[0], tmp_path / "export")
    assert json.loads((tmp_path / "export" / "jobs.json").read_text())["jobs"][0]["id"] == job_id
    exported = sorted(p.name for p in (tmp_path / "export" / "images" / str(job_id)).iterdir())
    assert (jobs, files) == (1, len(exported))
    assert {"grid.png", "tile-1.png", "tile-4.png"} <= set(exported)  # and preview.jpg if one was made

    later = (await runner.bot.queue.get(job_id)).created_at + timedelta(days=31)
    pruner = Pruner(runner.bot.queue.engine, runner.config.data_dir, 30, clock=lambda: later,
                    store=runner.bot.storage)
    assert (await pruner.prune_once()).jobs == 1
    assert bucket.keys(f"{PREFIX}/outputs/{job_id}/") == []
    assert not (tmp_path / "A" / "cache" / "outputs" / str(job_id)).exists()
    click = await fake.click(grid.id, custom_ids(grid)[0], user_id=fake.users[0])
    reply = await click.wait_response(timeout=3)
    assert reply.ephemeral and "were deleted: this server keeps images 30 days" in reply.content
