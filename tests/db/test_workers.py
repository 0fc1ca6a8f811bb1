"""Many worker processes on one queue: claim races, kill -9 chaos, scale-out, connections cut under them."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from db.engine import make_engine
from db.models import JobStatus
from db.queue import Queue
from tests.db.conftest import new_job

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fleet:
    """Worker processes sharing one log, started together by a starting-gun file."""

    url: str
    folder: Path
    options: list[str] = field(default_factory=list)
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    kills: int = 0

    @property
    def log(self) -> Path:
        return self.folder / "events.log"

    @property
    def gun(self) -> Path:
        return self.folder / "go"

    async def spawn(self, worker_id: str) -> None:
        """Start one worker process."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs[worker_id] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.db.worker_proc", self.url, worker_id, str(self.log),
            "--start-file", str(self.gun), *self.options, cwd=ROOT, env=env,
        )

    def fire(self) -> None:
        """Let the workers start claiming."""
        self.gun.touch()

    async def kill(self, worker_id: str) -> None:
        """kill -9 one worker."""
        proc = self.procs[worker_id]
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
            self.kills += 1

    async def wait(self, timeout: float) -> None:
        """Wait for every worker to finish (they stop when nothing is queued or running)."""
        try:
            codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in self.procs.values())), timeout)
        finally:
            for proc in self.procs.values():
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        assert all(code in (0, -9) for code in codes), codes

    def events(self) -> dict[str, list[tuple[int, int, str, float]]]:
        """The log, by event name: (job id, token, worker, time)."""
        found: dict[str, list[tuple[int, int, str, float]]] = defaultdict(list)
        for line in self.log.read_text().splitlines():
            event, job_id, token, worker, stamp = line.split()
            found[event].append((int(job_id), int(token), worker, float(stamp)))
        return found


async def _enqueue(url: str, n: int, users: int = 10) -> tuple[Queue, list[int]]:
    queue = Queue(make_engine(url, pool_size=10))
    ids: list[int] = []
    for start in range(0, n, 10):  # ten at a time: PostgreSQL takes them in parallel
        batch = [queue.enqueue(new_job(user_id=i % users, interaction_id=i)) for i in range(start, min(n, start + 10))]
        ids += [result.job.id for result in await asyncio.gather(*batch)]
    return queue, ids


async def _final_state(queue: Queue) -> dict[int, tuple[JobStatus, int, int]]:
    async with queue.engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, status, claim_token, attempts FROM jobs"))
        return {r[0]: (JobStatus(r[1]), r[2], r[3]) for r in rows}


async def test_claim_race_runs_each_job_exactly_once(db_url: str, tmp_path: Path) -> None:
    """8 worker processes, 1,000 jobs: every job runs exactly once and none is lost."""
    queue, ids = await _enqueue(db_url, 1000)
    fleet = Fleet(db_url, tmp_path)
    try:
        for i in range(8):
            await fleet.spawn(f"w{i}")
        fleet.fire()
        await fleet.wait(timeout=90)
        events = fleet.events()
        assert Counter(job for job, *_ in events["start"]) == Counter(ids)
        assert Counter(job for job, *_ in events["done"]) == Counter(ids)
        assert len({worker for *_, worker, _ in events["start"]}) >= 4  # really shared out
        state = await _final_state(queue)
        assert all(status is JobStatus.succeeded and attempts == 1 for status, _, attempts in state.values())
    finally:
        await queue.engine.dispose()


async def test_chaos_kill_9_workers_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """4 workers, 100 jobs, 12 random kill -9s with respawn: all succeed once; re-runs are bounded by kills."""
    queue, ids = await _enqueue(db_url, 100)
    # Short leases so jobs of workers respawned under a new name come back quickly; poison detection is off here.
    fleet = Fleet(db_url, tmp_path, ["--work-ms", "100", "--lease", "1", "--poison-kills", "1000"])
    rng = random.Random(1)
    try:
        names = [f"w{i}" for i in range(4)]
        for name in names:
            await fleet.spawn(name)
        fleet.fire()
        generation = 0
        while fleet.kills < 12:
            await asyncio.sleep(rng.uniform(0.1, 0.25))
            victim = rng.choice(names)
            await fleet.kill(victim)
            generation += 1
            if generation % 2:  # same name: release_worker hands its jobs back at once
                await fleet.spawn(victim)
            else:  # a new name: the dead worker's lease has to expire first
                names[names.index(victim)] = f"{victim}-{generation}"
                await fleet.spawn(names[names.index(f"{victim}-{generation}")])
        await fleet.wait(timeout=90)
        events = fleet.events()
        state = await _final_state(queue)
        assert sorted(state) == sorted(ids)
        assert all(status is JobStatus.succeeded for status, _, _ in state.values())
        # Exactly one accepted result per job, and it is the one its final claim produced.
        done = Counter(job for job, *_ in events["done"])
        assert all(done[job] <= 1 for job in ids)
        results = {(job, token) for job, token, *_ in events["result"]}
        assert all((job, token) in results for job, (_, token, _) in state.items())
        duplicates = len(events["start"]) - len(ids)
        assert 0 <= duplicates <= fleet.kills
        assert (await queue.counts())[JobStatus.running] == 0
    finally:
        await queue.engine.dispose()


async def test_scale_out_six_workers_run_at_once_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """6 worker processes on PostgreSQL work concurrently (all six hold a job at the same moment)."""
    queue, ids = await _enqueue(postgres_url, 48)
    fleet = Fleet(postgres_url, tmp_path, ["--work-ms", "300"])
    try:
        for i in range(6):
            await fleet.spawn(f"gpu-{i}")
        fleet.fire()
        await fleet.wait(timeout=60)
        events = fleet.events()
        assert Counter(job for job, *_ in events["done"]) == Counter(ids)
        spans = [(t, +1) for *_, t in events["start"]] + [(t, -1) for *_, t in events["done"]]
        busy, peak = 0, 0
        for _, delta in sorted(spans):
            busy += delta
            peak = max(peak, busy)
        assert peak == 6
    finally:
        await queue.engine.dispose()


async def test_workers_survive_postgres_dropping_their_connections(
    postgres_url: str, postgres_server: str, tmp_path: Path
) -> None:
    """Every worker connection terminated twice mid-run (as in a restart): work resumes within 10 s, none lost."""
    queue, ids = await _enqueue(postgres_url, 300)
    fleet = Fleet(postgres_url, tmp_path, ["--work-ms", "10", "--lease", "2"])
    application = postgres_url.rsplit("application_name=", 1)[1].split("&")[0]
    admin = make_engine(postgres_server)
    try:
        for i in range(4):
            await fleet.spawn(f"w{i}")
        fleet.fire()
        for _ in range(2):
            target = (len(fleet.events()["done"]) if fleet.log.exists() else 0) + 40
            while not fleet.log.exists() or len(fleet.events()["done"]) < target:
                await asyncio.sleep(0.05)
            async with admin.begin() as connection:
                killed = (await connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": application})).scalar()
            assert killed >= 1
            cut_at, before = time.monotonic(), len(fleet.events()["done"])
            while len(fleet.events()["done"]) <= before + 20:
                assert time.monotonic() - cut_at < 10, "workers did not resume within 10 s"
                await asyncio.sleep(0.05)
        await fleet.wait(timeout=60)
        state = await _final_state(queue)
        assert sorted(state) == sorted(ids)
        assert all(status is JobStatus.succeeded for status, _, _ in state.values())
    finally:
        await admin.dispose()
        await queue.engine.dispose()
