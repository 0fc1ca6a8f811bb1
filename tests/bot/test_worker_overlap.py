"""A job's finishing (PNG files, scores, outcome) overlaps the next job's denoising, one finishing job at a time."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from db.queue import NewJob, Queue
from generation.requests import GenerationKind, GenerationRequest
from tests.bot.test_worker import ScriptedEngine, _enqueue, _worker, queue  # noqa: F401 - the queue fixture


class GatedScorer:
    """A classifier whose first scoring waits for a gate: the first job's finishing lasts as long as a test wants."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.gate = threading.Event()
        self.error = error
        self.calls = 0

    def score(self, images) -> list[float]:
        self.calls += 1
        if self.calls == 1:
            if not self.gate.wait(20):
                raise TimeoutError("the test never opened the gate")
            if self.error is not None:
                raise self.error
        return [0.0] * len(images)


class SignallingEngine(ScriptedEngine):
    """Sets `started[prompt]` when it begins a prompt (from the generation thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, threading.Event] = {}

    def run(self, request, on_progress=None, cancel=None):
        self.started.setdefault(request.prompt, threading.Event()).set()
        return super().run(request, on_progress, cancel)

    async def wait_started(self, prompt: str) -> bool:
        event = self.started.setdefault(prompt, threading.Event())
        return await asyncio.to_thread(event.wait, 10)


def _count_heartbeats(queue: Queue, beats: list[int]) -> None:  # noqa: F811 - a parameter, not the fixture
    real = queue.heartbeat

    async def counted(job_id, *args, **kwargs):
        beats.append(job_id)
        return await real(job_id, *args, **kwargs)

    queue.heartbeat = counted


async def test_the_next_job_denoises_while_the_last_one_is_written(queue: Queue, tmp_path: Path) -> None:  # noqa: F811
    """Job 2's generation starts before job 1 is marked succeeded; job 1's lease is renewed until it is."""
    engine, scorer = SignallingEngine(), GatedScorer()
    first, second = await _enqueue(queue, "first", 1), await _enqueue(queue, "second", 2)
    worker = _worker(queue, engine, tmp_path)
    worker.classifier = scorer
    beats: list[int] = []
    _count_heartbeats(queue, beats)
    task = asyncio.create_task(worker.run_burst())
    assert await engine.wait_started("second")
    assert (await queue.get(first)).status == "running"  # still finishing
    before = beats.count(first)
    await asyncio.sleep(0.3)  # heartbeat_seconds is 0.05
    assert beats.count(first) > before
    scorer.gate.set()
    assert await asyncio.wait_for(task, timeout=20) == 2
    assert [(await queue.get(job)).status for job in (first, second)] == ["succeeded", "succeeded"]
    assert (tmp_path / "outputs" / str(first) / "grid.png").exists()


async def test_a_failure_while_finishing_fails_that_job_and_the_worker_goes_on(queue: Queue,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    """An error in the finishing stage fails its job with the reason; the job after it succeeds."""
    engine, scorer = SignallingEngine(), GatedScorer(error=ValueError("the classifier rejected the image"))
    first, second = await _enqueue(queue, "first", 1), await _enqueue(queue, "second", 2)
    worker = _worker(queue, engine, tmp_path)
    worker.classifier = scorer
    task = asyncio.create_task(worker.run_burst())
    assert await engine.wait_started("second")
    scorer.gate.set()
    assert await asyncio.wait_for(task, timeout=20) == 2
    failed = await queue.get(first)
    assert failed.status == "failed" and "classifier rejected" in failed.error
    assert (await queue.get(second)).status == "succeeded"


async def test_a_member_at_max_running_waits_for_the_finishing_job(tmp_path: Path, queue: Queue) -> None:  # noqa: F811
    """With max_running_per_user = 1, a finishing job still counts: the member's next job waits for its outcome."""
    queue = Queue(queue.engine, lease_seconds=30, max_running_per_user=1)
    engine, scorer = SignallingEngine(), GatedScorer()
    request = GenerationRequest(kind=GenerationKind.txt2img, prompt="x", seeds=(1, 2, 3, 4), width=64, height=64)
    ids = []
    for n, prompt in enumerate(("first", "second")):
        params = {**request.to_dict(), "prompt": prompt}
        done = await queue.enqueue(NewJob(interaction_id=n, user_id=7, guild_id=1, channel_id=1, kind="imagine",
                                          prompt=prompt, params=params))
        ids.append(done.job.id)
    worker = _worker(queue, engine, tmp_path)
    worker.classifier = scorer
    task = asyncio.create_task(worker.run_burst())
    async with asyncio.timeout(10):
        while scorer.calls == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    assert "second" not in engine.runs and (await queue.get(ids[1])).status == "queued"
    scorer.gate.set()
    assert await asyncio.wait_for(task, timeout=20) == 2
    assert engine.runs == ["first", "second"]


async def test_stop_waits_for_the_finishing_job(queue: Queue, tmp_path: Path) -> None:  # noqa: F811
    """A worker told to stop records the outcome of the job it is writing before it returns."""
    engine, scorer = SignallingEngine(), GatedScorer()
    job = await _enqueue(queue, "first", 1)
    worker = _worker(queue, engine, tmp_path)
    worker.classifier = scorer
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(10):
        while scorer.calls == 0:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.sleep(0.2)
    assert not task.done()
    scorer.gate.set()
    await asyncio.wait_for(task, timeout=10)
    assert (await queue.get(job)).status == "succeeded"
