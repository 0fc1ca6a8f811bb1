"""`python -m bot models list` and `models pull`, against local folders and a Hugging Face cache built in a temp
folder (no network: HF_HUB_OFFLINE is set for every run)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.models_cli import human_size

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A hub cache holding the tiny model as `tiny-org/tiny-sd`, laid out as huggingface_hub lays it out."""
    hub = tmp_path_factory.mktemp("hub")
    repo = hub / "models--tiny-org--tiny-sd"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    for file in tiny_model_dir.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(exist_ok=True)
            blob.write_bytes(data)
            link = repo / "snapshots" / SHA / file.relative_to(tiny_model_dir)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    return hub


def _run(args: list[str], tmp_path: Path, hub: Path, config: str) -> subprocess.CompletedProcess:
    (tmp_path / "config.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in {"IMAGINE_CONFIG", "IMAGINE_MODEL", "DATABASE_URL"}}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_CACHE=str(hub), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "bot", "models", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _blob_bytes(hub: Path) -> int:
    return sum(f.stat().st_size for f in (hub / "models--tiny-org--tiny-sd" / "blobs").iterdir())


def test_list_shows_folder_cache_and_missing_models_with_sizes(tmp_path: Path, hub_cache: Path,
                                                              tiny_model_dir: Path) -> None:
    """Each configured model: present with its size (folder or hub cache), or missing with the pull command."""
    config = (f'[model]\ndefault = "{tiny_model_dir}"\n'
              'choices = { cached = "tiny-org/tiny-sd", absent = "tiny-org/not-here" }\n')
    done = _run(["list"], tmp_path, hub_cache, config)
    assert done.returncode == 1, done.stderr  # one model is missing
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    folder_bytes = sum(f.stat().st_size for f in tiny_model_dir.rglob("*") if f.is_file())
    assert f"present (folder, {human_size(folder_bytes)})" in lines["default"]
    assert f"present (hub cache, {human_size(_blob_bytes(hub_cache))})" in lines["cached"]
    assert "missing: run `python -m bot models pull absent`" in lines["absent"]


def test_pull_offline_finds_a_cached_model_and_names_a_missing_one(tmp_path: Path, hub_cache: Path) -> None:
    """With HF_HUB_OFFLINE, pull resolves what the cache holds and says, per model, what it cannot fetch."""
    config = '[model]\ndefault = "tiny-org/tiny-sd"\nchoices = { absent = "tiny-org/not-here" }\n'
    done = _run(["pull"], tmp_path, hub_cache, config)
    assert done.returncode == 1
    assert f"default: tiny-org/tiny-sd ready in {hub_cache}/models--tiny-org--tiny-sd/snapshots/{SHA}" in done.stdout
    assert ("imagine-bot: absent: tiny-org/not-here is not in the cache and HF_HUB_OFFLINE is set"
            in done.stderr)
    assert "Traceback" not in done.stderr


def test_pull_only_the_named_models(tmp_path: Path, hub_cache: Path, tiny_model_dir: Path) -> None:
    """`pull default` touches only the default; a local folder needs no pull."""
    config = f'[model]\ndefault = "{tiny_model_dir}"\nchoices = {{ absent = "tiny-org/not-here" }}\n'
    done = _run(["pull", "default"], tmp_path, hub_cache, config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"default: {tiny_model_dir} is a local folder; nothing to pull"


def test_pull_refuses_an_unknown_name(tmp_path: Path, hub_cache: Path) -> None:
    """A name that is not default, a choice or upscaler: one line listing the names, exit 2."""
    done = _run(["pull", "anime"], tmp_path, hub_cache, "")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("imagine-bot: no configured model named anime: the names are "
                                                    "default")
