"""A tiny worker process for the multi-process tests: `python -m tests.db.worker_proc URL WORKER_ID LOG`.

It claims jobs until none are queued or running, "works" for --work-ms (heartbeating halfway), and appends one line
per event to LOG with O_APPEND (atomic for short lines, so a kill -9 never leaves half a line):
  start <job> <token> <worker>   it began executing the job
  result <job> <token> <worker>  it wrote the job's result, before asking succeed() to record it
  done <job> <token> <worker>    succeed() returned True
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from db.engine import make_engine
from db.errors import QueueBusy
from db.models import JobStatus
from db.queue import Queue

T = TypeVar("T")
RETRY_FOR_SECONDS = 30.0


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Retry a queue call through QueueBusy (locked database, lost connection) for up to 30 s."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while True:
        try:
            return await call()
        except QueueBusy:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> None:
    """The worker loop."""
    engine = make_engine(args.url, busy_timeout_seconds=10)
    queue = Queue(engine, lease_seconds=args.lease, poison_kills=args.poison_kills)
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(event: str, job_id: int, token: int) -> None:
        os.write(log, f"{event} {job_id} {token} {args.worker_id} {time.time():.4f}\n".encode())

    try:
        await retrying(partial(queue.release_worker, args.worker_id))
        while args.start_file and not Path(args.start_file).exists():
            await asyncio.sleep(0.01)
        while True:
            job = await retrying(partial(queue.claim, args.worker_id))
            if job is None:
                await retrying(queue.reclaim_expired)
                counts = await retrying(queue.counts)
                if counts[JobStatus.queued] == 0 and counts[JobStatus.running] == 0:
                    return
                await asyncio.sleep(0.02)
                continue
            record("start", job.id, job.claim_token)
            if args.work_ms:
                await asyncio.sleep(args.work_ms / 2000)
                if not await retrying(partial(queue.heartbeat, job.id, job.claim_token, 1, 2)):
                    continue  # lost the lease: write nothing
                await asyncio.sleep(args.work_ms / 2000)
            record("result", job.id, job.claim_token)
            if await retrying(partial(queue.succeed, job.id, job.claim_token, f"results/{job.id}", args.work_ms)):
                record("done", job.id, job.claim_token)
    finally:
        os.close(log)
        await engine.dispose()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("log")
    parser.add_argument("--work-ms", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--poison-kills", type=int, default=2)
    parser.add_argument("--start-file", default="", help="wait for this file before claiming (a starting gun)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
