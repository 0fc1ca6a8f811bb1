"""Scale-out: one bot without a worker, two `python -m bot worker` processes, one PostgreSQL, one shared data folder."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bot.config import WorkerSettings
from tests.bot.conftest import BotRunner, bot_config, custom_ids, image_of, is_result
from tests.db.conftest import _schema, postgres_server  # noqa: F401
from tests.fakediscord.server import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


def _worker_config(path: Path, data_dir: Path) -> Path:
    path.write_text(f"""
[model]
device = "cpu"
[queue]
lease_seconds = 10
heartbeat_seconds = 0.5
poll_seconds = 0.05
[worker]
shutdown_grace_seconds = 5
[data]
dir = "{data_dir}"
""")
    return path


async def test_one_bot_two_gpu_workers_on_postgres(discord_at_fake: FakeDiscord, tmp_path: Path,  # noqa: F811
                                                   tiny_model_dir: Path, postgres_server: str) -> None:  # noqa: F811
    """Jobs from /imagine and a V click are run by stand-alone workers (no token) and posted once each by the bot."""
    fake = discord_at_fake
    # The workers see the bot's data folder under another path, as an NFS mount on another host would be.
    (tmp_path / "mnt").mkdir()
    (tmp_path / "mnt" / "shared").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data").mkdir()
    async with _schema(postgres_server) as url:
        config = replace(bot_config(fake, tmp_path, tiny_model_dir), database_url=url,
                         worker=WorkerSettings(embedded=False))
        runner = BotRunner(fake, config)
        await runner.start()  # runs the migrations on the empty schema
        env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
        env.update(PYTHONPATH=str(ROOT), DATABASE_URL=url, IMAGINE_MODEL=str(tiny_model_dir),
                   IMAGINE_CONFIG=str(_worker_config(tmp_path / "worker.toml", tmp_path / "mnt" / "shared")))
        workers = [subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=tmp_path / "mnt", env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            mark = fake.mark()
            for n in range(4):
                inter = await fake.invoke_slash("imagine", {"prompt": f"harbour {n} --steps 2"},
                                                user_id=fake.users[n % 3])
                assert "Queued as job #" in (await inter.wait_response(timeout=3)).content
            async with asyncio.timeout(180):
                while len([m for m in fake.channel_messages() if m.id > mark and is_result(m)]) < 4:
                    await asyncio.sleep(0.1)
            first = next(m for m in fake.channel_messages() if m.id > mark and is_result(m))
            job_id = int(custom_ids(first)[0].split(":")[2])
            await fake.click(first.id, f"imagine:u:{job_id}:2")  # reads a tile the workers wrote, via its own path
            async with asyncio.timeout(180):
                while len([m for m in fake.channel_messages() if m.id > mark and is_result(m)]) < 5:
                    await asyncio.sleep(0.1)
            results = [m for m in fake.channel_messages() if m.id > mark and is_result(m)]
            labels = [re.search(r"job #(\d+)\)", m.content).group(1) for m in results]
            assert len(labels) == len(set(labels)) == 5
            assert image_of(results[-1]).size == (128, 128)
            jobs = [await runner.bot.queue.get(int(label)) for label in labels]
            assert all(job.worker_id and job.worker_id.split(":")[-1].isdigit() for job in jobs)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            codes = [await asyncio.to_thread(worker.wait, 30) for worker in workers]
            await runner.stop()
        assert codes == [0, 0]
