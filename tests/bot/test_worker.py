"""The worker loop against a real SQLite queue, with engines that fail in the ways real ones do."""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.worker import Worker
from db.engine import make_engine
from db.migrations import upgrade
from db.queue import NewJob, Queue
from generation.errors import GenerationCancelled, OutOfMemory
from generation.metadata import infotext
from generation.requests import GenerationKind, GenerationRequest, GenerationResult, Progress


class Clock:
    """A clock tests can move forward (leases expire without sleeping)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class ScriptedEngine:
    """Generates flat images, or raises what the script says for a prompt."""

    def __init__(self, failures: dict[str, BaseException] | None = None, gate: threading.Event | None = None) -> None:
        self.failures = failures or {}
        self.gate = gate
        self.runs: list[str] = []

    def check_token_limit(self, prompt: str) -> int:
        return 3

    def run(self, request, on_progress=None, cancel=None) -> GenerationResult:
        self.runs.append(request.prompt)
        if request.prompt in self.failures:
            raise self.failures[request.prompt]
        if self.gate is not None:  # a long job: step until released or cancelled
            while not self.gate.wait(0.01):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("cancelled at step 1")
        images = [Image.new("RGB", (request.width, request.height), (i * 40, 0, 0)) for i in range(4)]
        return GenerationResult(images=images, infotexts=[infotext(request, i) for i in range(4)], request=request)


@pytest.fixture
async def queue(tmp_path: Path):
    """A migrated temp-file SQLite queue with a movable clock."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    await upgrade(url)
    engine = make_engine(url)
    clock = Clock()
    yield Queue(engine, clock=clock, lease_seconds=30, max_attempts=2, retry_base_seconds=0, retry_max_seconds=0)
    await engine.dispose()


async def _enqueue(queue: Queue, prompt: str, n: int) -> int:
    request = GenerationRequest(kind=GenerationKind.txt2img, prompt=prompt, seeds=(1, 2, 3, 4), width=64, height=64)
    done = await queue.enqueue(NewJob(interaction_id=n, user_id=n, guild_id=1, channel_id=1, kind="imagine",
                                      prompt=prompt, params=request.to_dict()))
    return done.job.id


def _worker(queue: Queue, engine: ScriptedEngine, tmp_path: Path, name: str = "w1") -> Worker:
    return Worker(queue, lambda model: engine, tmp_path, worker_id=name, heartbeat_seconds=0.05,
                  poll_seconds=0.01, shutdown_grace_seconds=0.2)


async def test_out_of_memory_fails_the_job_and_the_next_one_runs(queue: Queue, tmp_path: Path) -> None:
    """OOM (after the engine's own retry) fails that job with its reason; the worker goes on to the next."""
    engine = ScriptedEngine({"huge": OutOfMemory("CUDA out of memory even with the batch split")})
    bad, good = await _enqueue(queue, "huge", 1), await _enqueue(queue, "small", 2)
    assert await _worker(queue, engine, tmp_path).run_burst() == 2
    assert (await queue.get(bad)).status == "failed" and "out of memory" in (await queue.get(bad)).error
    assert (await queue.get(good)).status == "succeeded"
    assert (tmp_path / "outputs" / str(good) / "grid.png").exists()


async def test_unknown_errors_are_retried_then_fail(queue: Queue, tmp_path: Path) -> None:
    """An unexpected exception is retried (max_attempts=2), then fails with the error named."""
    engine = ScriptedEngine({"flaky": RuntimeError("driver hiccup")})
    job_id = await _enqueue(queue, "flaky", 1)
    await _worker(queue, engine, tmp_path).run_burst()
    job = await queue.get(job_id)
    assert engine.runs == ["flaky", "flaky"]
    assert job.status == "failed" and "driver hiccup" in job.error


async def test_a_worker_that_lost_its_lease_records_nothing(queue: Queue, tmp_path: Path) -> None:
    """When the lease expired and another worker took the job, the first worker's result is discarded."""
    gate = threading.Event()
    job_id = await _enqueue(queue, "slow", 1)
    first = _worker(queue, ScriptedEngine(gate=gate), tmp_path, "w1")
    first.heartbeat_seconds = 3600  # a stalled heartbeat: the lease runs out
    task = asyncio.create_task(first.run_burst())
    while (await queue.get(job_id)).status != "running":
        await asyncio.sleep(0.01)
    queue._clock.now += timedelta(seconds=60)  # time travel past the lease
    assert await queue.reclaim_expired() == 1
    second = await queue.claim("w2")
    gate.set()
    await task
    job = await queue.get(job_id)
    assert job.status == "running" and job.worker_id == "w2" and second.claim_token == job.claim_token


async def test_stop_hands_the_running_job_back(queue: Queue, tmp_path: Path) -> None:
    """On shutdown a job still running after the grace period is cancelled and queued again."""
    job_id = await _enqueue(queue, "endless", 1)
    worker = _worker(queue, ScriptedEngine(gate=threading.Event()), tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while (await queue.get(job_id)).status != "running":
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    job = await queue.get(job_id)
    assert job.status == "queued" and job.attempts == 0


async def test_heartbeat_survives_a_database_hiccup(queue: Queue, tmp_path: Path) -> None:
    """A heartbeat that meets a locked database tries again instead of dying, so the lease keeps being renewed."""
    from db.errors import QueueBusy

    gate = threading.Event()
    job_id = await _enqueue(queue, "slow", 1)
    worker = _worker(queue, ScriptedEngine(gate=gate), tmp_path)
    real_heartbeat, calls = queue.heartbeat, []

    async def flaky_heartbeat(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise QueueBusy("database is locked")
        return await real_heartbeat(*args, **kwargs)

    queue.heartbeat = flaky_heartbeat
    task = asyncio.create_task(worker.run_burst())
    async with asyncio.timeout(10):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    gate.set()
    await task
    assert (await queue.get(job_id)).status == "succeeded"


async def test_every_output_image_is_scored_and_stored_with_the_job(queue: Queue, tmp_path: Path) -> None:
    """With the open_nsfw classifier the worker stores one score per tile, in range; without it, none."""
    from generation.nsfw import NsfwClassifier

    worker = _worker(queue, ScriptedEngine(), tmp_path)
    worker.classifier = NsfwClassifier()
    scored = await _enqueue(queue, "scored", 1)
    assert await worker.run_burst() == 1
    worker.classifier = None
    unscored = await _enqueue(queue, "plain", 2)
    assert await worker.run_burst() == 1
    scores = (await queue.get(scored)).nsfw_scores
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)
    assert (await queue.get(unscored)).nsfw_scores is None


class PreviewingEngine(ScriptedEngine):
    """A long job that reports a preview before it waits for the gate."""

    def run(self, request, on_progress=None, cancel=None) -> GenerationResult:
        if on_progress is not None:
            on_progress(Progress(step=1, total=2, preview=Image.new("RGB", (8, 8))))
        return super().run(request, on_progress, cancel)


async def _heartbeats_while_running(queue: Queue, worker: Worker, job_id: int, gate: threading.Event,
                                    calls: list[int], wanted: int) -> None:
    """Run the job until `wanted` heartbeats went through, then let it finish."""
    task = asyncio.create_task(worker.run_burst())
    async with asyncio.timeout(20):
        while len(calls) < wanted:
            await asyncio.sleep(0.01)
    gate.set()
    await task


def _count_heartbeats(queue: Queue, calls: list[int], fail: Callable[[int], BaseException | None]) -> None:
    real = queue.heartbeat

    async def counted(*args, **kwargs):
        calls.append(1)
        if (error := fail(len(calls))) is not None:
            raise error
        return await real(*args, **kwargs)

    queue.heartbeat = counted


async def test_a_disk_full_preview_never_stops_the_heartbeat(queue: Queue, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Saving a preview fails with ENOSPC: logged once with its traceback; the lease keeps being renewed."""
    gate = threading.Event()
    job_id = await _enqueue(queue, "slow", 1)
    worker = _worker(queue, PreviewingEngine(gate=gate), tmp_path)

    def disk_full(job, image) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    worker._save_preview = disk_full
    calls: list[int] = []
    _count_heartbeats(queue, calls, lambda n: None)
    with caplog.at_level(logging.ERROR):
        await _heartbeats_while_running(queue, worker, job_id, gate, calls, wanted=4)
    assert (await queue.get(job_id)).status == "succeeded"
    failures = [r for r in caplog.records if "preview" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


async def test_an_unexpected_heartbeat_error_restarts_the_heartbeat(queue: Queue, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A driver error the queue doesn't translate is logged with its traceback; the heartbeat starts again."""
    gate = threading.Event()
    job_id = await _enqueue(queue, "slow", 1)
    worker = _worker(queue, ScriptedEngine(gate=gate), tmp_path)
    calls: list[int] = []
    _count_heartbeats(queue, calls, lambda n: RuntimeError("untranslated driver error") if n == 1 else None)
    with caplog.at_level(logging.ERROR):
        await _heartbeats_while_running(queue, worker, job_id, gate, calls, wanted=4)
    assert (await queue.get(job_id)).status == "succeeded"
    failures = [r for r in caplog.records if f"heartbeat of job {job_id} failed" in r.getMessage()]
    assert len(failures) == 1 and "untranslated driver error" in str(failures[0].exc_info[1])


async def test_a_heartbeat_that_keeps_failing_stops_its_job(queue: Queue, tmp_path: Path) -> None:
    """No renewals means another worker may take the job: the generation stops and nothing is recorded."""
    job_id = await _enqueue(queue, "slow", 1)
    worker = _worker(queue, ScriptedEngine(gate=threading.Event()), tmp_path)
    calls: list[int] = []
    _count_heartbeats(queue, calls, lambda n: RuntimeError("still broken"))
    async with asyncio.timeout(20):
        await worker.run_burst()
    job = await queue.get(job_id)
    assert len(calls) == 5 and job.status == "running"  # left for its lease to expire and the job to come back


async def test_a_model_the_config_no_longer_offers_is_never_loaded(queue: Queue, tmp_path: Path) -> None:
    """A job queued for a model the operator has since removed fails with the reason; the engine isn't built."""
    request = GenerationRequest(kind=GenerationKind.txt2img, prompt="old", seeds=(1, 2, 3, 4), width=64, height=64,
                                model="removed/model")
    job = await queue.enqueue(NewJob(interaction_id=9, user_id=9, guild_id=1, channel_id=1, kind="imagine",
                                     prompt="old", params=request.to_dict(), model="removed/model"))
    loaded: list[str] = []
    worker = Worker(queue, lambda *model: loaded.append(model) or ScriptedEngine(), tmp_path, worker_id="w1",
                    heartbeat_seconds=0.05, poll_seconds=0.01, shutdown_grace_seconds=0.2,
                    default_model="base/model", allowed_models=frozenset({"base/model"}))
    assert await worker.run_burst() == 1
    failed = await queue.get(job.job.id)
    assert failed.status == "failed" and "'removed/model' is no longer offered" in failed.error
    assert loaded == []


async def test_warm_up_loads_the_default_model_and_the_classifier(queue: Queue, tmp_path: Path) -> None:
    """warm_up builds the default model's engine and warms the classifier, so the first claim loads nothing."""
    loaded: list[tuple] = []
    warmed: list[bool] = []
    worker = Worker(queue, lambda *model: loaded.append(model) or ScriptedEngine(), tmp_path, worker_id="w1",
                    heartbeat_seconds=0.05, poll_seconds=0.01, shutdown_grace_seconds=0.2, default_model="base/model")
    worker.classifier = type("Classifier", (), {"warm_up": lambda self: warmed.append(True)})()
    await worker.warm_up()
    await _enqueue(queue, "first", 1)
    worker.classifier = None
    assert await worker.run_burst() == 1
    assert loaded == [("base/model",)] and warmed == [True]


async def test_a_warm_up_that_fails_is_logged_and_the_bot_goes_on(queue: Queue, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A model that can't load at start is logged with its traceback; warm_up returns (jobs fail with the reason)."""
    def broken(*model):
        raise OSError("no such model folder")

    worker = Worker(queue, broken, tmp_path, worker_id="w1", heartbeat_seconds=0.05, poll_seconds=0.01,
                    shutdown_grace_seconds=0.2, default_model="base/model")
    with caplog.at_level(logging.ERROR):
        await worker.warm_up()
    failures = [r for r in caplog.records if "before connecting failed" in r.getMessage()]
    assert len(failures) == 1 and "no such model folder" in str(failures[0].exc_info[1])
