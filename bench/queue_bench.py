"""Queue benchmark: enqueue and claim latency (p50/p99), and claims per second with 1, 4 and 8 worker processes.

    python bench/queue_bench.py                                   # SQLite in a temp folder
    python bench/queue_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test

Each PostgreSQL run works in a schema of its own (created and dropped here). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

# The repository first, and not this folder: bench/bot.py would otherwise shadow the bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from db.engine import make_engine  # noqa: E402
from db.errors import QueueBusy  # noqa: E402
from db.migrations import upgrade  # noqa: E402
from db.queue import Queue  # noqa: E402
from db.views import NewJob  # noqa: E402

USERS = 20


def _job(i: int) -> NewJob:
    return NewJob(interaction_id=i, user_id=i % USERS, guild_id=1, channel_id=2, kind="imagine",
                  prompt=f"a lighthouse at dusk, detailed, #{i}", params={"steps": 25, "cfg": 7.0}, base_seed=i)


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(samples) * 1000


async def latency(url: str, n: int) -> dict[str, tuple[float, float, float]]:
    """p50/p99/max in ms of enqueue (with its position and ETA), claim, and succeed, one caller."""
    engine = make_engine(url)
    queue = Queue(engine)
    timings: dict[str, list[float]] = {"enqueue": [], "claim": [], "succeed": []}
    try:
        for i in range(n):
            started = time.perf_counter()
            await queue.enqueue(_job(i))
            timings["enqueue"].append(time.perf_counter() - started)
        while True:
            started = time.perf_counter()
            job = await queue.claim("bench")
            if job is None:
                break
            timings["claim"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await queue.succeed(job.id, job.claim_token, "/out", 1.0)
            timings["succeed"].append(time.perf_counter() - started)
        timings["enqueue through the door"] = await _door_latency(queue, n)
    finally:
        await engine.dispose()
    return {name: _percentiles(values) for name, values in timings.items()}


async def _door_latency(queue: Queue, n: int) -> list[float]:
    """Enqueue through bot/admission.py: admission lock, ban, profile, limits and quota checks, reservation."""
    from bot.admission import Admission, Origin, Ticket
    from bot.config import parse_config
    from bot.policy import JobAsk

    # Limits high enough that every job is admitted: this measures the checks, not refusals.
    config = parse_config({"limits": {"max_queued_per_user": 1000, "jobs_per_window": 100000,
                                      "max_queue_size": 1000000},
                           "quotas": {"images_per_day": 1000000, "gpu_seconds_per_day": 8640000}}, {})
    admission = Admission(queue, config)
    ask = JobAsk(command="imagine", model_name="default", steps=25, pixels=512 * 512, images=4)
    samples = []
    for i in range(n):
        new = _job(10**9 + i)
        origin = Origin(interaction_id=new.interaction_id, user_id=new.user_id, guild_id=1, channel_id=2)
        started = time.perf_counter()
        await admission.enqueue(Ticket(origin=origin, ask=ask, new=new))
        samples.append(time.perf_counter() - started)
    while (job := await queue.claim("bench")) is not None:  # leave the queue empty for the throughput runs
        await queue.succeed(job.id, job.claim_token, "/out", 1.0)
    return samples


def _worker(url: str, worker_id: str, ready: mp.Queue, go: mp.Event, done: mp.Queue) -> None:
    asyncio.run(_work(url, worker_id, ready, go, done))


async def _work(url: str, worker_id: str, ready: mp.Queue, go: mp.Event, done: mp.Queue) -> None:
    engine = make_engine(url, busy_timeout_seconds=30)
    queue = Queue(engine)
    await queue.counts()  # connect before the start
    ready.put(worker_id)
    await asyncio.to_thread(go.wait)
    claimed = busy = 0
    while True:
        try:
            job = await queue.claim(worker_id)
            if job is None:
                break
            await queue.succeed(job.id, job.claim_token, "/out", 1.0)
            claimed += 1
        except QueueBusy:
            busy += 1
    done.put((worker_id, claimed, busy))
    await engine.dispose()


async def _fill(url: str, n: int, offset: int) -> None:
    engine = make_engine(url)
    queue = Queue(engine)
    try:
        for i in range(n):
            await queue.enqueue(_job(offset + i))
    finally:
        await engine.dispose()


def throughput(url: str, workers: int, n: int, offset: int) -> tuple[float, int]:
    """Jobs claimed and succeeded per second by `workers` processes draining `n` queued jobs."""
    asyncio.run(_fill(url, n, offset))
    context = mp.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    procs = [context.Process(target=_worker, args=(url, f"w{i}", ready, go, done)) for i in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    started = time.perf_counter()
    go.set()
    results = [done.get(timeout=300) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    claimed = sum(r[1] for r in results)
    assert claimed == n, f"claimed {claimed} of {n} jobs"
    return claimed / elapsed, sum(r[2] for r in results)


async def _admin(url: str, sql: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(sql))
    await engine.dispose()


def run(name: str, url: str, n: int, drain: int) -> list[str]:
    """All measurements on one database; returns Markdown table rows."""
    asyncio.run(upgrade(url))
    lat = asyncio.run(latency(url, n))
    rows = [f"| {name} | {op} p50 / p99 / max | {p50:.2f} / {p99:.2f} / {top:.1f} ms |"
            for op, (p50, p99, top) in lat.items()]
    for offset, workers in enumerate((1, 4, 8), start=1):
        rate, busy = throughput(url, workers, drain, offset * 1_000_000)
        rows.append(f"| {name} | claim+succeed, {workers} worker process{'es' if workers > 1 else ''} | "
                    f"{rate:,.0f} jobs/s ({busy} QueueBusy retries) |")
    return rows


def main() -> None:
    """Parse arguments, run on SQLite and (if given) PostgreSQL, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="postgresql+asyncpg:// URL of a server to use (a schema is created)")
    parser.add_argument("-n", type=int, default=2000, help="jobs for the latency run (default 2000)")
    parser.add_argument("--drain", type=int, default=2000, help="jobs drained per throughput run (default 2000)")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    rows = ["| database | measurement | result |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        rows += run("SQLite", f"sqlite+aiosqlite:///{folder}/queue.db", args.n, args.drain)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(args.postgres, f'CREATE SCHEMA "{schema}"'))
        try:
            url = make_url(args.postgres).update_query_dict({"search_path": schema})
            rows += run("PostgreSQL", url.render_as_string(hide_password=False), args.n, args.drain)
        finally:
            asyncio.run(_admin(args.postgres, f'DROP SCHEMA "{schema}" CASCADE'))
    print("\n".join(rows))
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
