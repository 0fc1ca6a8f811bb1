"""Log lines: text or JSON, one per event with the job's fields, and never the token or a database password."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.logs import JsonFormatter, Redact, TextFormatter
from tests.bot.conftest import is_result
from tests.db.conftest import _schema, postgres_server  # noqa: F401
from tests.fakediscord.server import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Zq8s3cret"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "bot.worker", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": message, "args": args})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_text_lines_end_with_the_event_fields() -> None:
    """Text format: the message, then key=value for job id, user, guild, kind and durations."""
    line = TextFormatter().format(_record("job %s succeeded", 7, job_id=7, user_id=3, guild_id=9, kind="imagine",
                                          run_s=1.5))
    assert line.endswith("bot.worker: job 7 succeeded job_id=7 user_id=3 guild_id=9 kind=imagine run_s=1.5")


def test_json_lines_carry_the_event_fields_as_keys() -> None:
    """JSON format: one object with message, level, logger and the fields."""
    out = json.loads(JsonFormatter().format(_record("job %s claimed", 7, job_id=7, kind="imagine", wait_s=0.2)))
    assert out["message"] == "job 7 claimed" and out["level"] == "INFO" and out["logger"] == "bot.worker"
    assert (out["job_id"], out["kind"], out["wait_s"]) == (7, "imagine", 0.2)


def test_secrets_are_masked_in_messages_fields_and_tracebacks() -> None:
    """The token and the password become *** wherever they appear, including a traceback."""
    try:
        raise RuntimeError(f"cannot connect to postgresql://u:{PASSWORD}@db/x")
    except RuntimeError:
        record = _record("token %s rejected", "tok.en.secret", url=f"u:{PASSWORD}@db")
        record.exc_info = sys.exc_info()
    Redact(["tok.en.secret", PASSWORD]).filter(record)
    line = TextFormatter().format(record)
    assert "tok.en.secret" not in line and PASSWORD not in line
    assert "token *** rejected" in line and "url=***" in line and "postgresql://u:***@db/x" in line


async def test_an_end_to_end_run_logs_no_secret(discord_at_fake: FakeDiscord, tmp_path: Path,
                                                tiny_model_dir: Path, postgres_server: str) -> None:  # noqa: F811
    """`python -m bot` on PostgreSQL with a password, JSON logs: an /imagine is logged per event, no secret leaks."""
    fake = discord_at_fake
    (tmp_path / "config.toml").write_text(f"""
[discord]
guild_ids = [{fake.guild_id}]
[model]
device = "cpu"
[generation]
width = 64
height = 64
steps = 2
[queue]
heartbeat_seconds = 0.5
poll_seconds = 0.05
[data]
dir = "{tmp_path / 'data'}"
[logging]
format = "json"
""")
    async with _schema(postgres_server) as url:
        # The test server trusts local connections, so it accepts (and ignores) the password.
        with_password = make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": fake.token,
               "DISCORD_API_BASE": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url,
               "DATABASE_URL": with_password, "IMAGINE_MODEL": str(tiny_model_dir),
               "IMAGINE_CONFIG": str(tmp_path / "config.toml")}
        log = tmp_path / "bot.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            async with asyncio.timeout(120):
                while fake.gateway.identify_count == 0:
                    assert proc.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.05)
            mark = fake.mark()
            inter = await fake.invoke_slash("imagine", {"prompt": "a quiet harbour"}, user_id=fake.users[1])
            await inter.wait_response(timeout=10)
            await fake.wait_for_message(predicate=is_result, timeout=120, after=mark)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 60)
    text = log.read_text()
    assert fake.token not in text
    assert PASSWORD not in text
    assert [line for line in text.splitlines() if not line.startswith("{")] == []  # one JSON object per line
    events = [json.loads(line) for line in text.splitlines()]
    job_events = {e["message"].split(" ", 2)[2].split(" ")[0]: e for e in events if "job_id" in e}
    assert {"queued", "claimed", "succeeded", "delivered"} <= set(job_events)
    for event in job_events.values():
        assert event["user_id"] == fake.users[1] and event["guild_id"] == fake.guild_id
        assert event["kind"] == "imagine"
    assert job_events["delivered"]["total_s"] >= job_events["succeeded"]["run_s"] > 0
