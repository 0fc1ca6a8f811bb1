"""Prometheus series for one process (the bot with its embedded worker, or a stand-alone worker).

Counters and histograms are module-level, so other modules record an event with one call line; the queue and
worker series are read from the database at scrape time (`QueueCollector`), so they cover every host.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from bot.logs import job_fields
from db.monitoring import Snapshot
from db.views import JobView

T = TypeVar("T", bound=JobView)
R = TypeVar("R")
log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

JOB_SECONDS = Histogram("imagine_job_duration_seconds", "Wall time from claim to result, by job kind",
                        ["kind"], registry=REGISTRY,
                        buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600))
GPU_SECONDS = Counter("imagine_gpu_seconds", "Seconds spent inside the diffusion pipeline, by job kind",
                      ["kind"], registry=REGISTRY)
JOBS_SUCCEEDED = Counter("imagine_jobs_succeeded", "Jobs a worker in this process finished with images, by kind",
                         ["kind"], registry=REGISTRY)
ACK_SECONDS = Histogram("imagine_ack_latency_seconds",
                        "From the interaction's creation to the bot's acknowledgement (Discord allows 3 s)",
                        registry=REGISTRY, buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5))
DELIVERY_ATTEMPTS = Counter("imagine_delivery_attempts", "Attempts to post a finished job's message",
                            registry=REGISTRY)
DELIVERY_FAILURES = Counter("imagine_delivery_failures", "Attempts to post a result that failed, by reason",
                            ["reason"], registry=REGISTRY)
DISCORD_429 = Counter("imagine_discord_rate_limited", "HTTP 429 answers from Discord's API", ["scope"],
                      registry=REGISTRY)
HEARTBEATS = Counter("imagine_worker_heartbeats", "Heartbeats written by workers in this process", ["worker"],
                     registry=REGISTRY)
MODEL_LOAD_SECONDS = Gauge("imagine_model_load_seconds", "How long the last load of each model took", ["model"],
                           registry=REGISTRY)

_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
DISCORD_EPOCH_MS = 1420070400000


def job_succeeded(kind: str, seconds: float) -> None:
    """A worker in this process finished a job with images."""
    JOB_SECONDS.labels(kind).observe(seconds)
    JOBS_SUCCEEDED.labels(kind).inc()


@contextlib.contextmanager
def gpu_time(kind: str) -> Iterator[None]:
    """Count the seconds spent inside the block (the pipeline run) as GPU seconds of `kind`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        GPU_SECONDS.labels(kind).inc(time.perf_counter() - started)


def model_loaded(model: str, seconds: float) -> None:
    """A worker in this process finished loading `model`."""
    MODEL_LOAD_SECONDS.labels(model).set(seconds)


def counted_delivery(deliver: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """`Delivery.deliver` that counts each attempt, and each failure by HTTP status or error class."""

    async def deliver_counted(job: T, *args: Any, **kwargs: Any) -> R:
        DELIVERY_ATTEMPTS.inc()
        try:
            posted = await deliver(job, *args, **kwargs)
        except Exception as exc:
            status = getattr(exc, "status", None)
            reason = str(status) if isinstance(status, int) else type(exc).__name__
            DELIVERY_FAILURES.labels(reason).inc()
            log.warning("job %s not delivered (%s)", job.id, reason, extra=job_fields(job, datetime.now(UTC)))
            raise
        log.info("job %s delivered", job.id, extra=job_fields(job, datetime.now(UTC)))
        return posted

    return deliver_counted


def snowflake_time(snowflake: int) -> float:
    """Unix seconds at which Discord created the object with this id."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def discord_trace() -> aiohttp.TraceConfig:
    """An aiohttp trace for discord.py's HTTP client: counts 429s and times interaction acknowledgements."""
    trace = aiohttp.TraceConfig()

    async def on_end(session: object, context: object, params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429:
            scope = params.response.headers.get("X-RateLimit-Scope", "global" if params.response.headers.get(
                "X-RateLimit-Global") else "route")
            DISCORD_429.labels(scope if scope in ("user", "global", "shared", "route") else "route").inc()
        elif params.method == "POST" and params.response.status < 300:
            found = _CALLBACK.search(params.url.path)
            if found:
                ACK_SECONDS.observe(max(0.0, time.time() - snowflake_time(int(found.group(1)))))

    trace.on_request_end.append(on_end)
    return trace


class QueueCollector:
    """Queue depth by state and worker heartbeat ages, from the latest database snapshot."""

    def __init__(self) -> None:
        self.latest: Snapshot | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Called by prometheus_client while rendering /metrics."""
        snap = self.latest
        if snap is None:
            return
        depth = GaugeMetricFamily("imagine_queue_jobs", "Jobs in the database, by state", labels=["state"])
        for state, n in snap.counts.items():
            depth.add_metric([state.value], n)
        yield depth
        oldest = GaugeMetricFamily("imagine_queue_oldest_waiting_seconds", "Age of the oldest waiting job")
        oldest.add_metric([], (snap.at - snap.oldest_queued).total_seconds() if snap.oldest_queued else 0.0)
        yield oldest
        failed = GaugeMetricFamily("imagine_jobs_failed_last_hour", "Jobs that failed for good in the last hour")
        failed.add_metric([], snap.failed_last_hour)
        yield failed
        by_kind = GaugeMetricFamily("imagine_jobs_failed_last_hour_by_kind",
                                    "Jobs that failed for good in the last hour, by job kind", labels=["kind"])
        for kind, n in sorted(snap.failed_by_kind.items()):
            by_kind.add_metric([kind], n)
        yield by_kind
        undelivered = GaugeMetricFamily("imagine_undelivered_jobs", "Finished jobs not yet posted to Discord")
        undelivered.add_metric([], snap.undelivered)
        yield undelivered
        seen = GaugeMetricFamily("imagine_worker_last_heartbeat_timestamp_seconds",
                                 "Unix time of each worker's last heartbeat", labels=["worker"])
        for worker in snap.workers:
            seen.add_metric([worker.worker_id], worker.last_seen.astimezone(UTC).timestamp())
        yield seen
