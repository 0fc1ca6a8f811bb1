"""/metrics and /healthz while the real bot runs against the fake Discord; `python -m bot status`."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.__main__ import _monitor, _worker, main
from bot.config import MetricsSettings, WorkerSettings
from bot.health import MonitorServer
from db.monitoring import Workers
from tests.bot.conftest import BotRunner, bot_config, wait_result
from tests.fakediscord.server import FakeDiscord


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, keyed by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_during_an_end_to_end_run(runner: BotRunner) -> None:
    """Every listed series is served, and an /imagine moves queue depth, durations, ack, delivery and heartbeats."""
    fake, config = runner.fake, replace(runner.config, metrics=MetricsSettings(port=_free_port()))
    monitor = await _monitor(config, runner._engine, lambda: runner.bot.ws is not None and runner.bot.ws.open)
    try:
        before = _samples((await _get(monitor.port, "/metrics"))[1])
        mark = fake.mark()
        inter = await fake.invoke_slash("imagine", {"prompt": "a lighthouse at dusk"}, user_id=fake.users[0])
        await inter.wait_response(timeout=3)
        await wait_result(fake, mark)
        status, text = await _get(monitor.port, "/metrics")
    finally:
        await monitor.stop()
    assert status == 200
    after = _samples(text)
    worker = runner.bot.worker.worker_id
    assert _value(after, "imagine_queue_jobs", state="succeeded") == _value(before, "imagine_queue_jobs",
                                                                              state="succeeded") + 1
    assert _value(after, "imagine_queue_jobs", state="queued") == 0
    for name, labels in [("imagine_job_duration_seconds_count", {"kind": "imagine"}),
                         ("imagine_gpu_seconds_total", {"kind": "imagine"}),
                         ("imagine_jobs_succeeded_total", {"kind": "imagine"}),
                         ("imagine_ack_latency_seconds_count", {}),
                         ("imagine_delivery_attempts_total", {}),
                         ("imagine_worker_heartbeats_total", {"worker": worker})]:
        assert _value(after, name, **labels) > _value(before, name, **labels), name
    assert _value(after, "imagine_model_load_seconds", model=config.model.default) > 0
    assert _value(after, "imagine_worker_last_heartbeat_timestamp_seconds", worker=worker) > 0
    assert ("imagine_undelivered_jobs", ()) in after and ("imagine_jobs_failed_last_hour", ()) in after
    assert "# TYPE imagine_jobs_failed_last_hour_by_kind gauge" in text
    assert _value(after, "imagine_ack_latency_seconds_sum") - _value(before, "imagine_ack_latency_seconds_sum") < 3


async def test_healthz_turns_503_when_the_worker_is_gone(discord_at_fake: FakeDiscord, tmp_path: Path,
                                                         tiny_model_dir: Path) -> None:
    """200 with the gateway up and a stand-alone worker heartbeating; 503 one lease after the worker dies."""
    config = bot_config(discord_at_fake, tmp_path, tiny_model_dir)
    config = replace(config, worker=WorkerSettings(embedded=False), queue=replace(config.queue, heartbeat_seconds=0.1))
    runner = BotRunner(discord_at_fake, config)
    bot = await runner.start()
    now = [datetime.now(UTC)]
    monitor = MonitorServer(runner._engine, lease_seconds=config.queue.lease_seconds,
                            gateway_open=lambda: bot.ws is not None and bot.ws.open, clock=lambda: now[0])
    await monitor.start("127.0.0.1", 0)
    try:
        status, text = await _get(monitor.port, "/healthz")
        assert (status, text) == (503, f"unhealthy: no worker heartbeat in the last {config.queue.lease_seconds:g} s\n")
        worker = _worker(config, bot.queue, embedded=False)
        task = asyncio.create_task(worker.run(asyncio.Event()))
        async with asyncio.timeout(30):
            while (await _get(monitor.port, "/healthz"))[0] != 200:
                await asyncio.sleep(0.05)
        assert (await _get(monitor.port, "/healthz"))[1] == "ok: 1 live worker(s), gateway connected\n"
        task.cancel()  # the worker dies without a word: its heartbeat row stays and ages
        await asyncio.gather(task, return_exceptions=True)
        assert (await _get(monitor.port, "/healthz"))[0] == 200
        now[0] += timedelta(seconds=config.queue.lease_seconds + 1)
        status, text = await _get(monitor.port, "/healthz")
        assert status == 503 and "no worker heartbeat" in text
    finally:
        await monitor.stop()
        await runner.stop()


async def test_healthz_is_503_when_the_gateway_is_down(tmp_path: Path) -> None:
    """A live worker is not enough: a bot whose gateway is closed is unhealthy."""
    from bot.startup import prepare_database
    from db.engine import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    await prepare_database(url)
    engine = make_engine(url)
    await Workers(engine).beat("gpu-1", datetime.now(UTC))
    monitor = MonitorServer(engine, lease_seconds=60, gateway_open=lambda: False)
    await monitor.start("127.0.0.1", 0)
    try:
        assert await _get(monitor.port, "/healthz") == (503, "unhealthy: the Discord gateway is not connected\n")
    finally:
        await monitor.stop()
        await engine.dispose()


async def test_discord_429s_are_counted() -> None:
    """The trace discord.py's HTTP client carries counts each 429 answer by its scope."""
    async def limited(request: web.Request) -> web.Response:
        return web.json_response({"retry_after": 1}, status=429, headers={"X-RateLimit-Scope": "user"})

    app = web.Application()
    app.router.add_get("/x", limited)
    server = web.AppRunner(app)
    await server.setup()
    site = web.TCPSite(server, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    before = metrics.DISCORD_429.labels("user")._value.get()
    try:
        async with (aiohttp.ClientSession(trace_configs=[metrics.discord_trace()]) as session,
                    session.get(f"http://127.0.0.1:{port}/x") as response):
            assert response.status == 429
    finally:
        await server.cleanup()
    assert metrics.DISCORD_429.labels("user")._value.get() == before + 1


@pytest.fixture
def status_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty, migrated database that `python -m bot status` reads through DATABASE_URL."""
    from bot.startup import prepare_database

    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    asyncio.run(prepare_database(url))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def test_status_without_workers_exits_1(status_db: str, capsys: pytest.CaptureFixture) -> None:
    """`python -m bot status` with no worker heartbeat: says so, lists the states, exit code 1."""
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("unhealthy: no worker heartbeat in the last 60 s")
    assert "  queued     0" in out and "workers: none has ever heartbeated" in out


def test_status_with_a_live_worker_exits_0(status_db: str, capsys: pytest.CaptureFixture) -> None:
    """A worker that heartbeated just now makes `status` healthy and shows it as alive."""
    from db.engine import make_engine

    async def beat() -> None:
        engine = make_engine(status_db)
        await Workers(engine).beat("gpu-7", datetime.now(UTC))
        await engine.dispose()

    asyncio.run(beat())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 1 live worker(s)")
    assert "gpu-7" in out and "alive" in out


def test_a_workers_own_health_needs_its_own_heartbeat() -> None:
    """A stand-alone worker's /healthz is not kept healthy by another worker's heartbeat."""
    from bot.health import verdict
    from db.models import JobStatus
    from db.monitoring import Snapshot, WorkerSeen

    now = datetime.now(UTC)
    snap = Snapshot(at=now, counts=dict.fromkeys(JobStatus, 0), oldest_queued=None, failed_last_hour=0, undelivered=0,
                    workers=[WorkerSeen("gpu-1", now, now), WorkerSeen("gpu-2", now, now - timedelta(seconds=120))])
    assert verdict(snap, 60, None, "gpu-1") == (True, "ok: 1 live worker(s)")
    assert verdict(snap, 60, None, "gpu-2") == (False,
                                                "unhealthy: no worker heartbeat from worker gpu-2 in the last 60 s")
    assert verdict(snap, 60, None)[0] is True  # the bot's view: any live worker will do
