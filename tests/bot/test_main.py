"""`python -m bot`: configuration problems are one clear line on stderr and exit code 2."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.db.conftest import _schema, postgres_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "IMAGINE_CONFIG", "DATABASE_URL"}}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_missing_token_exits_2_with_one_line(tmp_path: Path) -> None:
    """No DISCORD_TOKEN: one line naming it, exit 2, no traceback."""
    done = _run([], {}, tmp_path)
    assert done.returncode == 2
    assert "DISCORD_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("content", "needle"), [
    (None, "cannot read"),
    ("[generation\n", "not valid TOML"),
    ("[generation]\nsteps = -1\n", "generation.steps = -1"),
])
def test_bad_config_exits_2_naming_the_problem(tmp_path: Path, content: str | None, needle: str) -> None:
    """An unreadable or invalid config file: one line that names it, exit 2."""
    path = tmp_path / "c.toml"
    if content is not None:
        path.write_text(content)
    done = _run(["--config", str(path)], {"DISCORD_TOKEN": "x"}, tmp_path)
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_command_exits_2(tmp_path: Path) -> None:
    """`python -m bot frobnicate` is refused with usage, not run."""
    done = _run(["frobnicate"], {"DISCORD_TOKEN": "x"}, tmp_path)
    assert done.returncode == 2
    assert "frobnicate" in done.stderr


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    """`python -m bot db upgrade` migrates the configured database without a token."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    done = _run(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.db").exists()



async def test_db_upgrade_never_prints_the_password(tmp_path: Path, postgres_server: str) -> None:  # noqa: F811
    """A successful upgrade names the database with its password masked."""
    async with _schema(postgres_server) as url:
        with_password = make_url(url).set(password="hunter2-secret").render_as_string(hide_password=False)
        done = await asyncio.to_thread(_run, ["db", "upgrade"], {"DATABASE_URL": with_password}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hunter2-secret" not in done.stdout + done.stderr and ":***@" in done.stdout


def test_a_failed_db_upgrade_is_one_line_without_the_password(tmp_path: Path) -> None:
    """An unreachable database: exit 1, one line naming the masked URL, no password and no traceback."""
    url = "postgresql+asyncpg://imagine:hunter2-secret@127.0.0.1:9/x"
    done = _run(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
    assert done.returncode == 1
    assert "hunter2-secret" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert "could not upgrade the database at postgresql+asyncpg://imagine:***@127.0.0.1:9/x" in done.stderr
