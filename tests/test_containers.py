"""Dockerfile and compose.yaml, checked with a real Dockerfile parser and YAML loader (no Docker engine here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dockerfile() -> list[dict]:
    """The Dockerfile's instructions, in order, comments left out."""
    return [i for i in DockerfileParser(str(ROOT / "Dockerfile")).structure if i["instruction"] != "COMMENT"]


@pytest.fixture(scope="module")
def compose() -> dict:
    """compose.yaml, merge keys resolved by the loader."""
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _values(instructions: list[dict], name: str) -> list[str]:
    return [i["value"] for i in instructions if i["instruction"] == name]


def test_image_runs_as_a_non_root_user(dockerfile: list[dict]) -> None:
    """A USER other than root comes before CMD, and nothing after it switches back."""
    users = [(n, i["value"]) for n, i in enumerate(dockerfile) if i["instruction"] == "USER"]
    cmd = next(n for n, i in enumerate(dockerfile) if i["instruction"] == "CMD")
    assert users and users[-1][0] < cmd
    assert all(user.split(":")[0] not in ("root", "0") for _, user in users)


def test_models_and_data_are_volumes(dockerfile: list[dict]) -> None:
    """/app/data and the Hugging Face cache are volumes, and HF_HOME points at the models volume."""
    volumes = [v for value in _values(dockerfile, "VOLUME") for v in json.loads(value)]
    assert {"/app/data", "/models"} <= set(volumes)
    assert "HF_HOME=/models" in " ".join(_values(dockerfile, "ENV"))


def test_healthcheck_asks_healthz_on_the_metrics_port(dockerfile: list[dict]) -> None:
    """HEALTHCHECK requests /healthz on the port the image turns metrics on at."""
    (check,) = _values(dockerfile, "HEALTHCHECK")
    env = " ".join(_values(dockerfile, "ENV"))
    port = re.search(r"IMAGINE_METRICS_PORT=(\d+)", env).group(1)
    assert f"127.0.0.1:{port}/healthz" in check
    assert "IMAGINE_METRICS_HOST=0.0.0.0" in env  # reachable through a published port


def test_image_install_steps_are_the_readmes(dockerfile: list[dict]) -> None:
    """Every pip command the image runs is written, as is, in the README's Containers section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Containers", 1)[1].split("\n## ", 1)[0]
    steps = [part.strip() for run in _values(dockerfile, "RUN") for part in run.split("&&") if "pip " in part]
    assert steps
    assert [step for step in steps if f"`{step}`" not in section] == []


def test_one_host_profile_runs_the_bot_with_sqlite_on_a_volume(compose: dict) -> None:
    """one-host: a single service, the bot with its embedded worker and the default SQLite in the data volume."""
    services = {name: s for name, s in compose["services"].items() if "one-host" in s.get("profiles", [])}
    assert list(services) == ["bot"]
    bot = services["bot"]
    assert "DATABASE_URL" not in bot["environment"] and "IMAGINE_EMBEDDED_WORKER" not in bot["environment"]
    assert "data:/app/data" in bot["volumes"] and "models:/models" in bot["volumes"]
    assert bot["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert set(compose["volumes"]) >= {"data", "models"}


def test_scale_out_profile_has_postgres_one_bot_and_gpu_workers(compose: dict) -> None:
    """scale-out: PostgreSQL, one bot without a worker, and N workers with one GPU each and no token."""
    services = {name: s for name, s in compose["services"].items() if "scale-out" in s.get("profiles", [])}
    assert set(services) == {"postgres", "bot-scale-out", "worker"}
    assert services["postgres"]["image"].startswith("postgres:")
    bot, worker = services["bot-scale-out"], services["worker"]
    for service in (bot, worker):
        url = service["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://imagine:${POSTGRES_PASSWORD}@postgres")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["environment"]["IMAGINE_EMBEDDED_WORKER"] == "false"
    assert worker["command"] == ["python", "-m", "bot", "worker"]
    assert "DISCORD_TOKEN" not in worker["environment"]
    assert worker["deploy"]["replicas"] == "${WORKERS:-2}"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in bot  # the bot alone needs no GPU


def test_compose_secrets_come_from_the_environment(compose: dict) -> None:
    """No token or password is written in compose.yaml: each is a required ${VARIABLE}."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert "${DISCORD_TOKEN:?" in text and "${POSTGRES_PASSWORD:?" in text
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if key in ("DISCORD_TOKEN", "POSTGRES_PASSWORD"):
                assert str(value).startswith("${"), key
