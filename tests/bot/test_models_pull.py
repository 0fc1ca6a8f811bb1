"""`python -m bot models pull` over HTTP, against a fake Hugging Face Hub on 127.0.0.1 (tests/fakehub.py).

Each run is a subprocess whose huggingface_hub reads HF_ENDPOINT (the fake hub) and an empty cache in a temp folder
at import, so nothing here touches the internet or the user's cache.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.models_cli import human_size
from bot.startup import check_models
from generation.pipelines import load_text2img
from tests.fakehub import FakeHub, serving

ROOT = Path(__file__).resolve().parents[2]
REPO = "fake-org/tiny-sd"
PICKLE = "unet/diffusion_pytorch_model.bin"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[FakeHub]:
    """The fake hub serving the tiny model as fake-org/tiny-sd, with a pickled UNet beside its safetensors."""
    repo = tmp_path_factory.mktemp("repo") / "tiny-sd"
    shutil.copytree(tiny_model_dir, repo)
    (repo / PICKLE).write_bytes(pickle.dumps({"pulls": "must never fetch this"}))
    with serving({REPO: repo}, refusals={"fake-org/gated": (401, "GatedRepo"), "fake-org/busy": (503, "")}) as hub:
        yield hub


def _run(args: list[str], tmp_path: Path, endpoint: str, config: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m bot models ARGS` in `tmp_path`, with its own HF cache and HF_ENDPOINT = `endpoint`."""
    (tmp_path / "config.toml").write_text(config)
    # Not the caller's config, token, cache or proxy (a proxy would be asked for 127.0.0.1).
    base = {k: v for k, v in os.environ.items()
            if k not in {"IMAGINE_CONFIG", "IMAGINE_MODEL", "DATABASE_URL", "HF_HUB_OFFLINE", "HF_HUB_CACHE",
                         "HF_TOKEN"} and "proxy" not in k.lower()}
    base.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf"),
                HF_HUB_DISABLE_TELEMETRY="1", **env)
    return subprocess.run([sys.executable, "-m", "bot", "models", *args], cwd=tmp_path, env=base,
                          capture_output=True, text=True, timeout=120, check=False)


def _pipeline(tiny_model_dir: Path) -> dict[str, int]:
    """The tiny pipeline's files (what a pull should bring) and their sizes."""
    files = (p for p in tiny_model_dir.rglob("*") if p.is_file())
    return {p.relative_to(tiny_model_dir).as_posix(): p.stat().st_size for p in files}


def _snapshot(home: Path) -> Path:
    """The one snapshot folder of REPO in the cache under `home`."""
    (snapshot,) = (home / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots").iterdir()
    return snapshot


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> tuple[subprocess.CompletedProcess, Path]:
    """One `models pull` of fake-org/tiny-sd from the fake hub: the finished process and its HF_HOME."""
    where = tmp_path_factory.mktemp("pull")
    done = _run(["pull"], where, hub.url, f'[model]\ndefault = "{REPO}"\n')
    return done, where / "hf"


def test_pull_fetches_the_pipeline_safetensors_and_never_a_pickle(pulled: tuple[subprocess.CompletedProcess, Path],
                                                                  hub: FakeHub, tiny_model_dir: Path) -> None:
    """pull downloads every file of the pipeline over HTTP, but not the .bin beside the UNet's safetensors."""
    done, home = pulled
    assert done.returncode == 0, done.stderr
    snapshot = _snapshot(home)
    assert done.stdout.splitlines() == [
        f"default: fetching {REPO} (safetensors only)",
        f"default: {REPO} ready in {snapshot} ({human_size(sum(_pipeline(tiny_model_dir).values()))})",
    ]
    pipeline = set(_pipeline(tiny_model_dir))
    assert hub.fetched(REPO) == pipeline
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()} == pipeline
    assert PICKLE not in hub.fetched(REPO)


def test_pull_shows_progress_bars_but_not_each_request(pulled: tuple[subprocess.CompletedProcess, Path]) -> None:
    """stderr carries the download's progress bar, not a log line per HTTP request or a traceback."""
    done, _ = pulled
    assert "Fetching " in done.stderr
    assert "HTTP Request" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_pulled_model_is_listed_and_loads_offline(pulled: tuple[subprocess.CompletedProcess, Path],
                                                    hub: FakeHub, tiny_model_dir: Path) -> None:
    """With HF_HUB_OFFLINE, list shows the pulled model from the cache, the startup check passes, and it loads."""
    _, home = pulled
    snapshot = _snapshot(home)
    before = len(hub.requests)
    done = _run(["list"], home.parent, hub.url, f'[model]\ndefault = "{REPO}"\n', HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"default  {REPO}  present (hub cache, "
                                   f"{human_size(sum(_pipeline(tiny_model_dir).values()))}) "
                                   f"{snapshot}")
    check_models({"default": REPO}, offline=True, cache_dir=str(home / "hub"))
    pipe = load_text2img(str(snapshot), "cpu", "float32")
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert len(hub.requests) == before  # offline means offline


def test_pull_names_a_repo_the_hub_does_not_have(tmp_path: Path, hub: FakeHub, tiny_model_dir: Path) -> None:
    """A 404 from the hub: one line naming the model and the hub, the next model still handled, exit 1."""
    config = f'[model]\ndefault = "fake-org/absent"\nchoices = {{ local = "{tiny_model_dir}" }}\n'
    done = _run(["pull"], tmp_path, hub.url, config)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == f"local: {tiny_model_dir} is a local folder; nothing to pull"
    assert done.stderr.strip().splitlines() == [
        f"imagine-bot: default: fake-org/absent could not be fetched: {hub.url} has no such repository (or it is "
        "private and HF_TOKEN is not set)"]


@pytest.mark.parametrize(("model", "reason"), [
    ("fake-org/gated", "it is gated on {hub}: accept its terms there and set HF_TOKEN"),
    ("fake-org/busy", "{hub} answered HTTP 503"),
], ids=["gated", "unavailable"])
def test_pull_names_what_the_hub_answered(tmp_path: Path, hub: FakeHub, model: str, reason: str) -> None:
    """A gated repo or a hub in trouble: the hub's answer in one line, exit 1."""
    done = _run(["pull"], tmp_path, hub.url, f'[model]\ndefault = "{model}"\n')
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"imagine-bot: default: {model} could not be fetched: {reason.format(hub=hub.url)}"]


def test_pull_names_an_unreachable_hub(tmp_path: Path) -> None:
    """Nothing listening at HF_ENDPOINT: one line naming the model, the address and the refusal, exit 1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    done = _run(["pull"], tmp_path, endpoint, f'[model]\ndefault = "{REPO}"\n')
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"imagine-bot: default: {REPO} could not be fetched: cannot reach {endpoint}: ")
    assert "refused" in line.lower()
