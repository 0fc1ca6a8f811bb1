"""Health: worker heartbeats in the database, the /metrics + /healthz endpoint, and `python -m bot status`.

Healthy means: the bot's gateway connection is open (when this process is the bot) and at least one worker wrote a
heartbeat within the lease time. A worker that died, hung or lost the database stops heartbeating, so within one
lease /healthz answers 503 and a container supervisor or Prometheus alert notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics
from db.errors import QueueError
from db.monitoring import Snapshot, Workers, snapshot, utcnow

log = logging.getLogger(__name__)


class WorkerBeacon:
    """Writes a worker's heartbeat row every `every_seconds` for as long as the worker's loop runs."""

    def __init__(self, workers: Workers, worker_id: str, every_seconds: float) -> None:
        self.workers, self.worker_id, self.every = workers, worker_id, every_seconds
        self.started_at = datetime.now(UTC)

    def around(self, run: Callable[[asyncio.Event], Awaitable[None]]) -> Callable[[asyncio.Event], Awaitable[None]]:
        """`run` (a worker loop) with heartbeats beside it that stop the moment it ends, however it ends."""

        async def supervised(stop: asyncio.Event) -> None:
            beats = asyncio.create_task(self._beat_forever(), name=f"heartbeat {self.worker_id}")
            try:
                await run(stop)
            finally:
                beats.cancel()
                await asyncio.gather(beats, return_exceptions=True)
                if stop.is_set():  # a clean stop: the row goes; a crash leaves it to age out
                    try:
                        await self.workers.gone(self.worker_id)
                    except QueueError as exc:
                        log.warning("could not remove worker %s's heartbeat row (%s)", self.worker_id, exc)

        return supervised

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.workers.beat(self.worker_id, self.started_at)
                metrics.HEARTBEATS.labels(self.worker_id).inc()
            except QueueError as exc:  # a locked or restarting database: the next beat may get through
                log.warning("worker %s: heartbeat not written (%s)", self.worker_id, exc)
            await asyncio.sleep(self.every)


def verdict(snap: Snapshot, lease_seconds: float, gateway_open: bool | None,
            worker_id: str | None = None) -> tuple[bool, str]:
    """(healthy, one line): a live worker within the lease (this one, for a worker's own endpoint), and the gateway
    open when there is one."""
    live = [w for w in snap.live_workers(lease_seconds) if worker_id is None or w.worker_id == worker_id]
    problems = []
    if gateway_open is False:
        problems.append("the Discord gateway is not connected")
    if not live:
        whose = f"from worker {worker_id} " if worker_id else ""
        problems.append(f"no worker heartbeat {whose}in the last {lease_seconds:g} s")
    if problems:
        return False, "unhealthy: " + "; ".join(problems)
    gateway = ", gateway connected" if gateway_open else ""
    return True, f"ok: {len(live)} live worker(s){gateway}"


class MonitorServer:
    """Serves /metrics (Prometheus text format) and /healthz on one port."""

    def __init__(self, engine: AsyncEngine, *, lease_seconds: float, gateway_open: Callable[[], bool] | None = None,
                 clock: Callable[[], datetime] = utcnow, worker_id: str | None = None) -> None:
        self.worker_id = worker_id  # a stand-alone worker's endpoint is healthy only while that worker beats
        self.engine, self.lease_seconds, self.gateway_open, self.clock = engine, lease_seconds, gateway_open, clock
        self.collector = metrics.QueueCollector()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0 in tests: any free port, see `.port`)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        metrics.REGISTRY.register(self.collector)
        log.info("metrics and health on http://%s:%d/metrics and /healthz", host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            metrics.REGISTRY.unregister(self.collector)
            await self._runner.cleanup()
            self._runner = None

    async def _snapshot(self) -> Snapshot | None:
        try:
            self.collector.latest = await snapshot(self.engine, now=self.clock())
        except QueueError as exc:
            log.warning("metrics: database not readable (%s)", exc)
            self.collector.latest = None
        return self.collector.latest

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._snapshot()
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        snap = await self._snapshot()
        if snap is None:
            return web.Response(status=503, text="unhealthy: the database is not readable\n")
        ok, line = verdict(snap, self.lease_seconds, self.gateway_open() if self.gateway_open else None,
                           self.worker_id)
        return web.Response(status=200 if ok else 503, text=line + "\n")


def status_report(snap: Snapshot, lease_seconds: float) -> tuple[bool, str]:
    """`python -m bot status`: the queue, the workers and the health verdict, as plain text."""
    ok, line = verdict(snap, lease_seconds, None)
    lines = [line, "", "jobs by state:"]
    lines += [f"  {state.value:<10} {n}" for state, n in snap.counts.items()]
    if snap.oldest_queued is not None:
        lines.append(f"oldest waiting job: {(snap.at - snap.oldest_queued).total_seconds():.0f} s")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(snap.failed_by_kind.items()))
    lines.append(f"failed in the last hour: {snap.failed_last_hour}" + (f" ({kinds})" if kinds else ""))
    lines.append(f"finished but not yet posted: {snap.undelivered}")
    lines.append("workers (last heartbeat):" if snap.workers else "workers: none has ever heartbeated")
    for worker in snap.workers:
        age = (snap.at - worker.last_seen).total_seconds()
        state = "alive" if age <= lease_seconds else "gone"
        lines.append(f"  {worker.worker_id:<40} {age:7.0f} s ago  {state}")
    return ok, "\n".join(lines)
