"""`python -m bot` as a real process: kill -9 it during enqueues and deliveries, and lose nothing, post nothing twice."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakediscord.server import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"job #(\d+)\)")


def _write_config(path: Path, fake: FakeDiscord, data_dir: Path) -> Path:
    path.write_text(f"""
[discord]
guild_ids = [{fake.guild_id}]
attachment_hosts = ["127.0.0.1"]
[model]
device = "cpu"
[generation]
width = 64
height = 64
steps = 4
[queue]
lease_seconds = 5
heartbeat_seconds = 0.5
poll_seconds = 0.05
[limits]
max_queued_per_user = 20
jobs_per_window = 1000
[quotas]
images_per_day = 100000
gpu_seconds_per_day = 1000000
[worker]
shutdown_grace_seconds = 2
[data]
dir = "{data_dir}"
""")
    return path


class BotProcess:
    """`python -m bot` in a child process, pointed at the fake through the public environment variables."""

    def __init__(self, fake: FakeDiscord, config: Path, db: Path, model: Path, log: Path) -> None:
        self.fake, self.log = fake, log
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": fake.token,
                    "DISCORD_API_BASE": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url,
                    "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "IMAGINE_MODEL": str(model),
                    "IMAGINE_CONFIG": str(config)}
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        """Start the process and wait until it has identified and synced its commands."""
        syncs, identifies = self.fake.command_registry.sync_count, self.fake.gateway.identify_count
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=self.log.parent, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)
        async with asyncio.timeout(90):
            # Commands sync in setup_hook, before the gateway connects: wait for both.
            while self.fake.command_registry.sync_count == syncs or self.fake.gateway.identify_count == identifies:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def bot_process(discord_at_fake: FakeDiscord, tmp_path: Path, tiny_model_dir: Path):  # noqa: F811
    """A BotProcess against the fake; killed at the end if still running."""
    process = BotProcess(discord_at_fake, _write_config(tmp_path / "config.toml", discord_at_fake, tmp_path / "data"),
                         tmp_path / "imagine.db", tiny_model_dir, tmp_path / "bot.log")
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.kill()


def _jobs(db: Path) -> dict[int, str]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute("select id, status from jobs").fetchall())


async def test_kill_9_during_enqueues_and_deliveries_loses_nothing(bot_process: BotProcess, tmp_path: Path) -> None:
    """Every acknowledged job is stored; after restarts each is posted exactly once."""
    fake, rng = bot_process.fake, random.Random(7)
    acked: set[int] = set()
    await bot_process.start()
    for round_ in range(3):
        for n in range(4):
            inter = await fake.invoke_slash("imagine", {"prompt": f"crash test {round_}-{n}"},
                                            user_id=fake.users[n % len(fake.users)])
            try:
                reply = await inter.wait_response(timeout=3)
            except TimeoutError:
                continue  # never acknowledged: the member saw "interaction failed" and nothing was promised
            if (queued := re.search(r"Queued as job #(\d+)", reply.content or "")) is not None:
                acked.add(int(queued.group(1)))
        await asyncio.sleep(rng.uniform(0.2, 2.5))  # somewhere inside generation or delivery
        bot_process.kill()
        assert acked <= set(_jobs(tmp_path / "imagine.db")), "an acknowledged job is missing from the database"
        await bot_process.start()

    def settled() -> bool:
        posted = [int(m) for msg in fake.channel_messages() for m in MARKER.findall(msg.content)
                  if msg.attachments or "failed" in msg.content]
        return set(posted) >= acked

    try:
        async with asyncio.timeout(240):
            while not settled():
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"not every acknowledged job was posted: acked {sorted(acked)}, jobs {_jobs(tmp_path / 'imagine.db')}, "
                    f"log tail: {bot_process.log.read_text()[-3000:]}")
    await asyncio.sleep(1.5)  # a duplicate would show up within a few delivery rounds
    results: dict[int, int] = {}
    for message in fake.channel_messages():
        if message.attachments and "imagine:i:" in str(message.components) or "failed:" in message.content:
            for job_id in MARKER.findall(message.content):
                results[int(job_id)] = results.get(int(job_id), 0) + 1
    assert {job_id: results.get(job_id, 0) for job_id in acked} == {job_id: 1 for job_id in acked}
    assert bot_process.terminate() == 0
    statuses = _jobs(tmp_path / "imagine.db")
    assert "running" not in statuses.values() and "queued" not in statuses.values()


async def test_sigterm_stops_a_stand_alone_worker_cleanly(bot_process: BotProcess, tmp_path: Path) -> None:
    """`python -m bot worker` exits 0 on SIGTERM and leaves no job running."""
    # The bot only creates the schema and enqueues: with its embedded worker on, it could finish the job itself,
    # and the test would then signal the stand-alone worker before it had even installed its handlers.
    bot_process.env["IMAGINE_EMBEDDED_WORKER"] = "false"
    await bot_process.start()
    inter = await bot_process.fake.invoke_slash("imagine", {"prompt": "worker test --steps 60"})
    await inter.wait_response(timeout=3)
    assert bot_process.terminate() == 0
    assert set(_jobs(tmp_path / "imagine.db").values()) == {"queued"}
    worker = subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=tmp_path,
                              env={k: v for k, v in bot_process.env.items() if k != "DISCORD_TOKEN"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with asyncio.timeout(90):  # only this worker can claim the job, and it claims inside its signal handlers
        while {"running", "succeeded"}.isdisjoint(_jobs(tmp_path / "imagine.db").values()):
            await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    # A claim may land while the model is still loading; the worker hands the job back once the load returns.
    assert await asyncio.to_thread(worker.wait, 90) == 0
    assert set(_jobs(tmp_path / "imagine.db").values()) <= {"queued", "succeeded"}


async def test_a_refused_token_is_one_line_and_exit_2(bot_process: BotProcess, tmp_path: Path) -> None:
    """Discord answering 401 to the token ends the bot with one clear line and exit code 2."""
    env = {**bot_process.env, "DISCORD_TOKEN": "not-the-token"}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                                   capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "refused DISCORD_TOKEN" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
