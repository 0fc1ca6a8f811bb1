"""What the bot itself adds: the real `python -m bot` process against the fake Discord, with the tiny model.

    PYTHONPATH=. python bench/bot.py                 # 4 members x 50 commands, a long job, 20 timed grids
    PYTHONPATH=. python bench/bot.py --quick         # 4 x 5 commands, short job, 3 grids (used by the tests)

Three figures:
1. Acknowledgement latency (p50/p99): from the fake dispatching INTERACTION_CREATE to the bot's response, for
   4 members sending their commands at once (each member one after another), while the jobs they queue run.
2. Event-loop lag p99 while a job generates: the bot's own timer task (bot/loop_lag.py) logs its lateness each
   second; the windows that fall inside the job's run (its claim to its recorded outcome, from the jobs table) are
   read back from the bot's JSON log (`logging.format = "json"`: fields, not text, so a reworded line can't break it).
3. Bot overhead per grid: command sent -> grid message posted, minus the job's generation time as the worker
   records it (`gpu_seconds`: denoise, decode, PNG files). Jobs run one at a time on an idle queue.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path, and this module (bench/bot.py) would shadow the bot
# package (a namespace package loses to a plain module of the same name): look in the repository root only.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from bot.config import QueueSettings  # noqa: E402
from bot.loop_lag import percentile  # noqa: E402
from tests.fakediscord.server import FakeDiscord  # noqa: E402
from tests.tiny_model import build_tiny_model  # noqa: E402



def write_config(path: Path, fake: FakeDiscord, data_dir: Path, side: int, steps: int, lag_window: float) -> Path:
    """A config for the bench: tiny sizes, fast polling, JSON logs, loop-lag windows, limits out of the way."""
    limits = ("max_active_per_user = 1000\n" if "max_active_per_user" in
              {f.name for f in dataclasses.fields(QueueSettings)} else "")
    extra = "" if limits else "[limits]\nmax_queued_per_user = 1000\nmax_running_per_user = 100\n" \
        "jobs_per_window = 100000\nmax_queue_size = 100000\n[quotas]\nimages_per_day = 1000000\n" \
        "gpu_seconds_per_day = 1000000\n"
    path.write_text(f"""
[discord]
guild_ids = [{fake.guild_id}]
[model]
device = "cpu"
[generation]
width = {side}
height = {side}
steps = {steps}
[queue]
heartbeat_seconds = 0.5
poll_seconds = 0.05
{limits}[worker]
shutdown_grace_seconds = 5
[data]
dir = "{data_dir}"
[diagnostics]
loop_lag_seconds = {lag_window}
[logging]
format = "json"
{extra}""")
    return path


async def final_text(inter) -> str:
    """The reply's text: the response itself, or what replaced a deferred ("thinking...") response."""
    async with asyncio.timeout(60):
        while True:
            content = inter.callback.content if inter.callback is not None else None
            if content:
                return content
            if inter.original is not None and inter.original.content:
                return inter.original.content
            await asyncio.sleep(0.02)


def db_stamp(text: str) -> float:
    """A timestamp as SQLite holds it (naive UTC text) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def log_records(text: str, logger: str) -> list[dict]:
    """The JSON log lines of one logger, each with `at` (epoch seconds); other lines (a library's print) skipped."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("logger") == logger:
            records.append({**record, "at": datetime.fromisoformat(record["time"]).timestamp()})
    return records


def lag_windows(log_text: str, begin: float, end: float, window_s: float) -> dict:
    """Loop-lag windows wholly inside [begin, end] (a job's run), and those of the idle bot in the 4 s before."""
    inside, idle = [], []
    for record in log_records(log_text, "bot.loop_lag"):
        if "late_20ms" not in record:
            raise ValueError(f"a loop-lag record without its fields: {record}")
        if begin + window_s <= record["at"] <= end:
            inside.append(record)
        elif begin - 4.0 < record["at"] < begin:
            idle.append(record)
    ticks, late = sum(w["samples"] for w in inside), sum(w["late_20ms"] for w in inside)
    return {"job_seconds": round(end - begin, 2), "windows": len(inside), "ticks": ticks, "ticks_late_20ms": late,
            # p99 of all the job's ticks is under 20 ms exactly when at most 1% of them were later than that
            "p99_under_20ms": ticks > 0 and late <= 0.01 * ticks,
            "p99_ms_worst_window": max((w["p99_ms"] for w in inside), default=None),
            "p99_ms_median_window": statistics.median([w["p99_ms"] for w in inside]) if inside else None,
            "max_ms": max((w["max_ms"] for w in inside), default=None),
            "idle_p99_ms_worst_window": max((w["p99_ms"] for w in idle), default=None)}


def is_grid_of(job_id: int):
    """A predicate for the job's posted result: an image and its Info button (a status message has only Cancel,
    and carries a preview image too)."""
    info = f"imagine:i:{job_id}:"

    def match(message) -> bool:
        ids = [c.get("custom_id", "") for row in message.components for c in row.get("components", [])]
        return bool(message.attachments) and any(cid.startswith(info) for cid in ids)

    return match


async def job_id_of(inter) -> int:
    """The job number in the "queued" reply."""
    text = await final_text(inter)
    if (found := re.search(r"job #(\d+)", text)) is None:
        raise RuntimeError(f"no job number in the reply {text!r}")
    return int(found[1])


def load1() -> str:
    """The 1-minute load average (the machine may be shared)."""
    return f"{os.getloadavg()[0]:.2f}"


class Bench:
    """The fake Discord, the bot process and the figures."""

    def __init__(self, fake: FakeDiscord, work: Path, model: Path) -> None:
        self.fake, self.work, self.model = fake, work, model
        self.log = work / "bot.log"
        self.db = work / "imagine.db"
        self.proc: subprocess.Popen | None = None

    async def start(self, side: int, steps: int, lag_window: float) -> None:
        """Start `python -m bot` pointed at the fake; wait for its commands and gateway session."""
        self.lag_window = lag_window
        config = write_config(self.work / "config.toml", self.fake, self.work / "data", side, steps, lag_window)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": self.fake.token,
               "DISCORD_API_BASE": self.fake.api_base, "DISCORD_GATEWAY_URL": self.fake.gateway_url,
               "DATABASE_URL": f"sqlite+aiosqlite:///{self.db}", "IMAGINE_MODEL": str(self.model),
               "IMAGINE_CONFIG": str(config)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=self.work, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        async with asyncio.timeout(180):
            while self.fake.command_registry.sync_count == 0 or self.fake.gateway.identify_count == 0:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log.read_text()[-3000:])
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # READY and guild create reach the bot

    def stop(self) -> None:
        """SIGTERM the bot and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    async def wait_idle(self, timeout: float = 900) -> None:
        """Until no job is queued or running and every finished job is delivered."""
        async with asyncio.timeout(timeout):
            while True:
                with sqlite3.connect(self.db) as db:
                    busy = db.execute("select count(*) from jobs where status in ('queued', 'running') "
                                      "or (delivered_at is null and status != 'queued')").fetchone()[0]
                if busy == 0:
                    return
                await asyncio.sleep(0.2)

    async def acknowledgements(self, members: int, per_member: int) -> dict:
        """Ack latency of members x per_member /imagine commands, members in parallel."""
        users = list(self.fake.users)
        while len(users) < members:
            users.append(self.fake.add_member(f"bench-{len(users)}"))
        elapsed: list[float] = []
        missed = 0  # no response within 30 s: Discord would have shown "The application did not respond"

        async def member(user_id: int) -> None:
            nonlocal missed
            for index in range(per_member):
                inter = await self.fake.invoke_slash("imagine", {"prompt": f"bench {user_id} {index}"},
                                                     user_id=user_id)
                try:
                    response = await inter.wait_response(timeout=30)
                except TimeoutError:
                    missed += 1
                    continue
                elapsed.append(response.elapsed_s)  # a deferral ("thinking...") is the acknowledgement too

        start = time.perf_counter()
        await asyncio.gather(*(member(user) for user in users[:members]))
        wall = time.perf_counter() - start
        ms = [value * 1000 for value in elapsed]
        return {"commands": members * per_member, "answered": len(ms), "missed_30s": missed,
                "over_3s": sum(value > 3000 for value in ms), "members": members, "wall_s": round(wall, 2),
                "p50_ms": round(percentile(ms, 0.5), 1), "p99_ms": round(percentile(ms, 0.99), 1),
                "max_ms": round(max(ms), 1), "load1": load1()}

    def job_times(self, job_id: int) -> tuple[float, float, float | None]:
        """Claimed and finished (epoch seconds) and the worker's generation time of one job, from the jobs table."""
        with sqlite3.connect(self.db) as db:
            started, finished, seconds = db.execute("select started_at, finished_at, gpu_seconds from jobs "
                                                    "where id = ?", (job_id,)).fetchone()
        return db_stamp(started), db_stamp(finished), seconds

    async def lag_during_job(self, steps: int) -> dict:
        """The bot's own loop-lag windows that lie inside one long job's run, and those of the idle bot before."""
        await asyncio.sleep(3 * self.lag_window + 0.5)  # a few idle windows first
        mark = self.fake.mark()
        inter = await self.fake.invoke_slash("imagine", {"prompt": f"a long job --steps {steps}"})
        await inter.wait_response(timeout=30)
        job_id = await job_id_of(inter)
        await self.fake.wait_for_message(predicate=is_grid_of(job_id), timeout=900, after=mark)
        await asyncio.sleep(1.5 * self.lag_window)  # the last window is logged
        begin, end, _ = self.job_times(job_id)
        return {**lag_windows(self.log.read_text(), begin, end, self.lag_window), "job_id": job_id,
                "load1": load1()}

    async def overhead(self, grids: int) -> dict:
        """(command -> posted grid) minus the worker's generation time, one job at a time."""
        overheads, totals, generation = [], [], []
        for index in range(grids):
            mark = self.fake.mark()
            sent = time.perf_counter()
            inter = await self.fake.invoke_slash("imagine", {"prompt": f"overhead {index}"})
            await inter.wait_response(timeout=30)
            job_id = await job_id_of(inter)
            await self.fake.wait_for_message(predicate=is_grid_of(job_id), timeout=300, after=mark)
            total = time.perf_counter() - sent
            seconds = self.job_times(job_id)[2]
            totals.append(total)
            generation.append(seconds)
            overheads.append(total - seconds)
            await self.wait_idle()
        return {"grids": grids, "total_s_median": round(statistics.median(totals), 3),
                "generation_s_median": round(statistics.median(generation), 3),
                "overhead_s_median": round(statistics.median(overheads), 3),
                "overhead_s_max": round(max(overheads), 3), "load1": load1()}

    def startup(self) -> dict:
        """Model loads and the embedded worker's warm-up (before the gateway connects), from the bot's log."""
        text = self.log.read_text()
        return {"model_load_s": [r["load_s"] for r in log_records(text, "bot") if "load_s" in r],
                "warm_up_s": [r["warm_up_s"] for r in log_records(text, "bot.worker") if "warm_up_s" in r]}


async def run(args: argparse.Namespace) -> dict:
    """All three measurements against one bot process."""
    work = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    model = build_tiny_model(work / "model")
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
                     "load1_at_start": load1(), "work": str(work)}
    async with FakeDiscord() as fake:
        bench = Bench(fake, work, model)
        await bench.start(side=args.side, steps=args.steps, lag_window=args.lag_window)
        try:
            results["ack"] = await bench.acknowledgements(args.members, args.per_member)
            print("ack", results["ack"], flush=True)
            await bench.wait_idle()
            results["loop_lag"] = await bench.lag_during_job(args.long_steps)
            print("loop lag", results["loop_lag"], flush=True)
            results["overhead"] = await bench.overhead(args.grids)
            print("overhead", results["overhead"], flush=True)
            results["startup"] = bench.startup()
        finally:
            bench.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--per-member", type=int, default=50)
    parser.add_argument("--side", type=int, default=128, help="image side of the tiny model's jobs")
    parser.add_argument("--steps", type=int, default=4, help="steps of the acknowledged and timed jobs")
    parser.add_argument("--long-steps", type=int, default=100, help="steps of the job the loop lag is read during")
    parser.add_argument("--grids", type=int, default=20, help="grids timed one at a time for the overhead")
    parser.add_argument("--lag-window", type=float, default=1.0, help="seconds per loop-lag window the bot logs")
    parser.add_argument("--quick", action="store_true", help="a few of everything (checks the script)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_member, args.long_steps, args.grids, args.side, args.steps = 5, 30, 2, 64, 2
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
