"""The worker loop: claim a job, generate off the event loop, save files, finish it — under a renewed lease.

It composes db (the queue) and generation (the engine) and knows nothing of Discord, so the same loop runs inside
`python -m bot` and alone on a GPU host as `python -m bot worker`.

A job's finishing (PNG encoding, file writes, classifier scores, recording the outcome) overlaps the next job's
denoising: once a job's images exist, the loop claims the next one while the finished one is written. At most one
job is finishing at a time, and its lease is renewed until its outcome is recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot import metrics
from bot.logs import job_fields
from bot.storage import ImageStore, LocalStore
from bot.supervision import Backoff, TaskGaveUp, supervise
from db.errors import QueueError
from db.queue import JobView, Queue
from generation.errors import GenerationCancelled, GenerationError, OutOfMemory, PromptError, UploadError
from generation.requests import GenerationRequest, GenerationResult, Progress

if TYPE_CHECKING:
    from generation.nsfw import NsfwClassifier

log = logging.getLogger(__name__)

# Errors that another attempt cannot fix: fail the job at once.
PERMANENT = (PromptError, UploadError, OutOfMemory, GenerationError, ValueError, FileNotFoundError)


class Engine(Protocol):
    """What the worker needs from generation.engine.Engine."""

    def run(self, request: GenerationRequest, on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> GenerationResult: ...

    def check_token_limit(self, prompt: str) -> int: ...


def default_worker_id() -> str:
    """host:pid, so operators can tell workers apart in the jobs table."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _RunState:
    """Shared between the generation thread and the heartbeat task."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.step = 0
        self.total = 0
        self.preview_due = False
        self.preview = None
        self.lost = False  # the lease went to another worker: record nothing for this claim
        self.previews_off = False  # saving a preview failed (disk full?): the job goes on without them


class Worker:
    """Claims and runs jobs until told to stop."""

    def __init__(self, queue: Queue, engine_factory: Callable[..., Engine], data_dir: Path, *,
                 heartbeat_seconds: float, poll_seconds: float, shutdown_grace_seconds: float,
                 worker_id: str | None = None, on_finished: Callable[[int], None] | None = None,
                 default_model: str = "", classifier: NsfwClassifier | None = None,
                 allowed_models: frozenset[str] | None = None, store: ImageStore | None = None) -> None:
        self.queue = queue
        self.engine_factory = engine_factory
        # Paths stored in jobs (init images, result folders) are relative to the data folder, so a bot and
        # workers on other machines can mount one shared folder at different places, or share a bucket instead.
        self.data_dir = data_dir
        self.outputs_dir = data_dir / "outputs"
        self.store = store or LocalStore(data_dir)
        self.worker_id = worker_id or default_worker_id()
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds
        self.grace = shutdown_grace_seconds
        self.on_finished = on_finished
        self.default_model = default_model
        # The models the current config offers (None: any). A job queued before the operator removed its model,
        # or a click on an old button, must not load it.
        self.allowed_models = allowed_models
        self.classifier = classifier  # scores every output image (generation/nsfw.py); None: not scored
        self.wakeup = asyncio.Event()
        self._engine: Engine | None = None
        self._engine_model: tuple[str, str] | None = None
        self._engine_lock = threading.Lock()
        self._finishing: asyncio.Task | None = None  # the job whose files and outcome are being written

    def engine(self, model: str, lora: str = "") -> Engine:
        """The engine for `model` (with `lora` fused), loaded on first use in the generation thread (seconds to
        minutes).

        One model is held at a time: a job for another model replaces it (GPU memory rarely fits two).
        """
        with self._engine_lock:
            if self._engine is None or self._engine_model != (model, lora):
                self._engine = None  # let the old weights go before the new ones load
                # A fused LoRA (fast models) makes other weights: the factory takes it only when there is one.
                self._engine = self.engine_factory(model, lora) if lora else self.engine_factory(model)
                self._engine_model = (model, lora)
            return self._engine

    async def warm_up(self) -> None:
        """Load the default model (and the classifier) now, in a thread. A first load imports torch's and diffusers'
        modules and holds the GIL for seconds: the bot does it before it takes commands, not on the first claim."""
        started = time.perf_counter()

        def load() -> None:
            self.engine(self.default_model)
            if self.classifier is not None:
                self.classifier.warm_up()

        try:
            await asyncio.to_thread(load)
        except Exception:  # jobs then fail with the reason, one by one; the bot still answers
            log.exception("loading the model %s before connecting failed", self.default_model)
            return
        log.info("worker warmed up in %.1f s", time.perf_counter() - started,
                 extra={"warm_up_s": round(time.perf_counter() - started, 3)})

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then finish or hand back the running job within the grace period."""
        released = await self.queue.release_worker(self.worker_id)
        if released:
            log.warning("handed back %d job(s) this worker held before a restart", released)
        try:
            while not stop.is_set():
                try:
                    await self.queue.reclaim_expired()
                    job = await self.queue.claim(self.worker_id)
                    if job is None:
                        await self._idle(stop)
                        continue
                    await self._run_claimed(job, stop)
                except asyncio.CancelledError:
                    raise
                except QueueError as exc:
                    # Database trouble (locked, restarting, disk full): the job's lease brings it back; keep working.
                    log.error("queue error in the worker loop (%s); retrying after %.1f s", exc, self.poll_seconds)
                    await self._idle(stop)
        finally:
            # A restart begins by handing back this worker's jobs: the one still finishing must be recorded first.
            await self._drain()

    async def run_burst(self) -> int:
        """Run queued jobs until none is left (for tests and one-off runs); returns how many ran."""
        done, stop = 0, asyncio.Event()
        while True:
            if (job := await self.queue.claim(self.worker_id)) is None:
                if self._finishing is None:
                    return done
                await self._drain()  # a job that failed while finishing may be queued again
                continue
            await self._run_claimed(job, stop)
            done += 1

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for "new job", the poll interval, or "stop", whichever comes first."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
        try:
            await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            self.wakeup.clear()

    async def _drain(self) -> None:
        """Wait for the job still finishing; if this worker is cancelled meanwhile, so is it (its lease brings the
        job back)."""
        task, self._finishing = self._finishing, None
        if task is None:
            return
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _run_claimed(self, job: JobView, stop: asyncio.Event) -> None:
        """Start one claimed job; return once it is denoised and alone in its finishing stage (or over), so the
        loop can claim the next job while this one's files are written."""
        previous = self._finishing
        handed_over = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._recorded(job, self._run_job(job, stop, previous, handed_over)))
        self._finishing = task
        try:
            await asyncio.shield(handed_over)
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _recorded(self, job: JobView, run: Awaitable[None]) -> None:
        """Await a job's run in the background; nobody awaits its result, so what escapes it is logged here."""
        try:
            await run
        except asyncio.CancelledError:
            raise
        except QueueError as exc:  # the outcome could not be recorded: the job's lease brings it back
            log.error("recording the outcome of job %s failed (%s); its lease brings it back", job.id, exc)
        except Exception:
            log.exception("the worker failed around job %s; its lease brings it back", job.id)

    async def _run_job(self, job: JobView, stop: asyncio.Event, previous: asyncio.Task | None,
                       handed_over: asyncio.Future) -> None:
        """Generate one claimed job with a heartbeat beside it, write and score it, then record the outcome for its
        claim token. Errors while finishing fail the job like errors while generating."""
        state = _RunState()
        started = time.perf_counter()
        log.info("job %s claimed (%s, attempt %s)", job.id, job.kind, job.attempts, extra=job_fields(job))
        over = asyncio.Event()  # the outcome is recorded: the heartbeat stops
        gen = asyncio.ensure_future(asyncio.to_thread(self._generate, job, state))
        beat = asyncio.ensure_future(self._keep_alive(job, state, over))
        stopper = asyncio.ensure_future(self._stop_after_grace(stop, state, gen))
        try:
            result = await asyncio.shield(gen)
            state.preview_due = False  # the grid follows; a late preview would only flicker
            if previous is not None:
                await asyncio.wait([previous])  # one job finishing at a time
            handed_over.set_result(None)
            result_dir, scores = await asyncio.to_thread(self._finish, job, result)
        except GenerationCancelled:
            if stop.is_set():
                await self.queue.release(job.id, job.claim_token)
                log.warning("job %s handed back at shutdown", job.id)
                return
            if not state.lost:
                recorded = await self.queue.finish_cancelled(job.id, job.claim_token)
                log.info("job %s cancelled by its owner (%s)", job.id, "recorded" if recorded else "no longer ours")
        except PERMANENT as exc:
            log.warning("job %s failed: %s", job.id, exc, extra=job_fields(job))
            await self.queue.fail(job.id, job.claim_token, str(exc), retriable=False)
        except asyncio.CancelledError:
            state.cancel.set()
            raise
        except Exception as exc:  # unknown errors may be transient (driver hiccup, disk): retried with backoff
            log.exception("job %s raised; it will be retried if attempts remain", job.id, extra=job_fields(job))
            await self.queue.fail(job.id, job.claim_token, f"{type(exc).__name__}: {exc}", retriable=True)
        else:
            held = await self.queue.succeed(job.id, job.claim_token, str(result_dir),
                                            time.perf_counter() - started, nsfw_scores=scores)
            if held:
                log.info("job %s succeeded in %.1f s", job.id, time.perf_counter() - started,
                         extra={**job_fields(job), "run_s": round(time.perf_counter() - started, 3)})
                metrics.job_succeeded(job.kind, time.perf_counter() - started)
            else:
                log.warning("job %s finished after its lease was lost; result discarded", job.id)
        finally:
            over.set()
            for task in (beat, stopper):
                task.cancel()
            await asyncio.gather(beat, stopper, return_exceptions=True)
            if previous is not None:
                await asyncio.wait([previous])  # a job that ended early still ends after the one before it
            if not handed_over.done():
                handed_over.set_result(None)
        if self.on_finished:
            self.on_finished(job.id)

    async def _stop_after_grace(self, stop: asyncio.Event, state: _RunState, gen: asyncio.Future) -> None:
        """On shutdown, give the running job the grace period, then cancel it at the next step."""
        await stop.wait()
        try:
            await asyncio.wait_for(asyncio.shield(gen), timeout=self.grace)
        except (TimeoutError, Exception):
            state.cancel.set()

    async def _keep_alive(self, job: JobView, state: _RunState, over: asyncio.Event) -> None:
        """The heartbeat, supervised: restarted after a failure; if it can't go on, the job stops.

        Without renewals the lease runs out and another worker would run the job a second time, so a heartbeat
        that keeps failing cancels the generation and records nothing (the job comes back when the lease ends).
        """
        finished = asyncio.Event()

        async def beat() -> None:
            await self._heartbeat(job, state, over)
            finished.set()

        backoff = Backoff(base_s=min(self.heartbeat_seconds, 2.0) / 2, max_s=self.heartbeat_seconds,
                          give_up_after=5, healthy_s=4 * self.heartbeat_seconds)
        try:
            await supervise(f"heartbeat of job {job.id}", beat, stop=finished, backoff=backoff)
        except TaskGaveUp as exc:
            log.error("%s; stopping job %s so that it cannot run twice", exc, job.id)
            state.lost = True
            state.cancel.set()

    async def _heartbeat(self, job: JobView, state: _RunState, over: asyncio.Event) -> None:
        """Renew the lease and publish progress until the outcome is recorded; stop generation if the job was
        cancelled or lost."""
        interval = min(self.heartbeat_seconds, 2.0)  # progress wants ~2 s; the lease only needs heartbeat_seconds
        while not over.is_set():
            await asyncio.sleep(interval)
            try:
                beat = await self.queue.heartbeat(job.id, job.claim_token, progress_step=state.step,
                                                  progress_total=state.total)
            except QueueError as exc:  # a locked or restarting database: keep trying while the lease lasts
                log.warning("heartbeat for job %s failed (%s); trying again", job.id, exc)
                continue
            if (not beat.held or beat.cancel_requested) and not state.cancel.is_set():
                state.lost = not beat.held
                log.warning("job %s %s; stopping it", job.id, "lost its lease" if state.lost else "was cancelled")
                state.cancel.set()
            # After the renewal: a preview that can't be written must never cost the lease.
            if state.preview_due and state.preview is not None and not state.previews_off:
                state.preview_due = False
                try:
                    await asyncio.to_thread(self._save_preview, job, state.preview)
                except OSError:
                    state.previews_off = True
                    log.exception("saving a preview of job %s failed; it goes on without previews", job.id)

    def _save_preview(self, job: JobView, image) -> None:
        from generation.progress import write_preview

        folder = self.store.job_folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        write_preview(image, folder / "preview.jpg")
        self.store.publish_preview(job.id)  # S3: one small PUT, at most once per heartbeat (~2 s)

    def _generate(self, job: JobView, state: _RunState) -> GenerationResult:
        """In a thread: fetch the init image if any (from the bucket when images live there), then run the engine
        (denoise and decode) for the job's request; the fetched copy is dropped after."""
        request = GenerationRequest.from_dict(job.params)
        stored = request.init_image
        if stored is not None and Path(stored).is_absolute():
            stored = None  # an absolute path is used as it is
        if stored is not None:  # an upload or a parent's tile, relative to the data folder
            request = dataclasses.replace(request, init_image=str(self.store.local_copy(stored)))
        try:
            return self._denoise(job, state, request)
        finally:
            if stored is not None:
                self.store.drop_local_copy(stored)

    def _denoise(self, job: JobView, state: _RunState, request: GenerationRequest) -> GenerationResult:
        """Run the engine for `request`, publishing progress into `state`."""

        def on_progress(progress: Progress) -> None:
            state.step, state.total = progress.step, progress.total
            if progress.preview is not None:
                state.preview, state.preview_due = progress.preview, True

        model = request.model or self.default_model
        if self.allowed_models is not None and model not in self.allowed_models:
            raise GenerationError(f"the model {model!r} is no longer offered on this server; nothing was generated")
        engine = self.engine(model, request.lora)
        # The bot checks prompt length too, but a bot without its tokenizer (or an older job) relies on this.
        engine.check_token_limit(request.prompt)
        with metrics.gpu_time(job.kind):
            return engine.run(request, on_progress=on_progress, cancel=state.cancel)

    def _finish(self, job: JobView, result: GenerationResult) -> tuple[Path, list[float] | None]:
        """In a thread, beside the next job's denoising: write tiles and grid, score them (both are slow), and
        publish them (S3: upload) before the job is marked succeeded, so the bot posts only what it can read."""
        from generation.outputs import write_outputs

        write_outputs(result, self.store.job_folder(job.id))
        scores = self.classifier.score(result.images) if self.classifier is not None else None
        self.store.publish_job(job.id)
        return Path("outputs") / str(job.id), scores
