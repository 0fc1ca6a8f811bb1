"""The admission door alone: N admissions of 4-image jobs on a fresh, migrated SQLite file; p50 and p99.

    PYTHONPATH=. python bench/door_bench.py 1000

Run it at two commits alternately (one `git worktree` each) to compare the door's cost under the same machine load;
`bench/queue_bench.py` measures it too, after its other phases.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench.queue_bench import _door_latency
from bot.startup import prepare_database
from db.engine import make_engine
from db.queue import Queue


async def main(n: int) -> None:
    """Time `n` admissions on a temp database and print the p50 and p99."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'door.db'}"
        await prepare_database(url)
        engine = make_engine(url)
        try:
            samples = sorted(await _door_latency(Queue(engine), n))
        finally:
            await engine.dispose()
    print(f"door (n={n}) p50 {samples[n // 2] * 1000:.2f} ms, p99 {samples[int(n * 0.99)] * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
