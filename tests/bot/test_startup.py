"""Startup checks: each known problem is one line on stderr naming it, exit code 2, no traceback."""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from alembic.script import ScriptDirectory

from bot.startup import StartupError, check_models, prepare_database
from db.migrations import alembic_config

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path, config: str = "") -> subprocess.CompletedProcess:
    (cwd / "config.toml").write_text(config)
    clean = {k: v for k, v in os.environ.items()
             if k not in {"DISCORD_TOKEN", "IMAGINE_CONFIG", "DATABASE_URL", "HF_HUB_OFFLINE"}}
    base = {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'imagine.db'}"}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env={**clean, **base, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def _one_line_exit_2(done: subprocess.CompletedProcess) -> str:
    """The last stderr line, after checking the exit code and that nothing looks like a traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("imagine-bot: ")
    return last


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def not_tls() -> Iterator[int]:
    """A port that answers plain text where a TLS handshake is expected (a broken proxy, say)."""

    class Plain(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(1024)
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Plain)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_discord_connection_refused(tmp_path: Path) -> None:
    """Nothing listening at Discord's address: 'connection refused' with host and port."""
    port = _free_port()
    done = _run([], {"DISCORD_TOKEN": "x", "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10"}, tmp_path)
    line = _one_line_exit_2(done)
    assert f"cannot reach Discord at 127.0.0.1:{port}: connection refused" in line


def test_discord_dns_failure(tmp_path: Path) -> None:
    """A host name that does not resolve: the message says the DNS lookup failed and names the host."""
    done = _run([], {"DISCORD_TOKEN": "x", "DISCORD_API_BASE": "https://discord.invalid/api/v10"}, tmp_path)
    line = _one_line_exit_2(done)
    assert "DNS lookup of discord.invalid failed" in line


def test_discord_tls_failure(tmp_path: Path, not_tls: int) -> None:
    """A peer that does not speak TLS: the message says the TLS handshake failed."""
    done = _run([], {"DISCORD_TOKEN": "x", "DISCORD_API_BASE": f"https://127.0.0.1:{not_tls}/api/v10"}, tmp_path)
    line = _one_line_exit_2(done)
    assert "the TLS handshake failed" in line


def test_database_unreachable_masks_the_password(tmp_path: Path) -> None:
    """PostgreSQL not listening: 'database unreachable', the URL shown without its password."""
    url = f"postgresql+asyncpg://imagine:hunter2@127.0.0.1:{_free_port()}/imagine"
    line = _one_line_exit_2(_run(["worker"], {"DATABASE_URL": url}, tmp_path))
    assert "database unreachable at postgresql+asyncpg://imagine:***@127.0.0.1" in line
    assert "connection refused" in line
    assert "hunter2" not in line


async def test_pending_migrations_are_named_then_applied(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A fresh database: the log names every revision, oldest first; afterwards the schema is at head."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    revisions = [rev.revision for rev in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))]
    with caplog.at_level(logging.INFO, logger="bot.startup"):
        await prepare_database(url)
    assert f"applying {len(revisions)} pending migration(s): {', '.join(revisions)}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.startup"):
        await prepare_database(url)
    assert "pending" not in caplog.text
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select count(*) from jobs")).scalar() == 0
    engine.dispose()


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    """A schema revision this code does not know (a downgrade of the bot) stops the start."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await prepare_database(url)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("update alembic_version set version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(StartupError, match="revision 9999_future, which this version does not know"):
        await prepare_database(url)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda(tmp_path: Path) -> None:
    """`model.device = "cuda"` on a machine without CUDA: say so and what to do."""
    line = _one_line_exit_2(_run(["worker"], {}, tmp_path, '[model]\ndevice = "cuda"\n'))
    assert 'model.device = "cuda" but no CUDA device is available' in line


def test_model_missing_offline_names_model_and_command(tmp_path: Path) -> None:
    """HF_HUB_OFFLINE with an empty cache: name the model and the command that fetches it."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    line = _one_line_exit_2(_run(["worker"], env, tmp_path, '[model]\nchoices = { anime = "some-org/anime" }\n'))
    assert "model stable-diffusion-v1-5/stable-diffusion-v1-5 (default) is not downloaded" in line
    assert "`python -m bot models pull default`" in line


def test_model_in_an_offline_cache_passes(tmp_path: Path) -> None:
    """A hub model whose snapshot is in the cache passes the offline check; one that is not is named."""
    snapshot = tmp_path / "models--org--present" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (tmp_path / "models--org--present" / "refs").mkdir()
    (tmp_path / "models--org--present" / "refs" / "main").write_text("a" * 40)
    check_models({"default": "org/present"}, offline=True, cache_dir=str(tmp_path))
    with pytest.raises(StartupError, match="model org/absent \\(anime\\) is not downloaded"):
        check_models({"default": "org/present", "anime": "org/absent"}, offline=True, cache_dir=str(tmp_path))


def test_missing_model_folder_is_named(tmp_path: Path) -> None:
    """A configured local folder that does not exist is named, whether online or not."""
    with pytest.raises(StartupError, match="model default = '/nowhere/model' is not a folder"):
        check_models({"default": "/nowhere/model"}, offline=False)


def test_data_folder_not_writable(tmp_path: Path) -> None:
    """data.dir that cannot be created or written: name the folder."""
    (tmp_path / "afile").write_text("not a folder")
    line = _one_line_exit_2(_run(["worker"], {}, tmp_path, '[data]\ndir = "afile/data"\n'))
    assert "data folder afile/data is not writable" in line
