"""`python -m bot models list` and `python -m bot models pull [NAME...]`: the configured models, ahead of time.

Names are the config's: `default`, each `model.choices` key, and `upscaler`. Hub models go into the Hugging Face
cache (HF_HOME or HF_HUB_CACHE choose where; a Docker volume, say), fetched the way the worker will load them:
diffusers picks the pipeline's files, safetensors only, so a pull never brings pickled weights.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.startup import StartupError, configured_models


@dataclass(frozen=True)
class ModelState:
    """One configured model on this machine."""

    name: str
    model: str
    where: str  # "folder", "hub cache" or "missing"
    path: Path | None
    size_bytes: int


def _folder_size(folder: Path) -> int:
    """Bytes of the files under `folder`, following the hub cache's symlinks to their blobs once each."""
    seen: set[Path] = set()
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                total += real.stat().st_size
    return total


def _cached_snapshot(model: str) -> Path | None:
    """The cache folder of a hub model whose pipeline index is downloaded, else None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "model_index.json")
    return Path(found).parent if isinstance(found, str) else None


def model_states(config: Config) -> list[ModelState]:
    """Each configured model: where it is on this machine and how much disk it takes."""
    states = []
    for name, model in configured_models(config).items():
        local = Path(model).expanduser()
        if local.is_dir():
            states.append(ModelState(name, model, "folder", local, _folder_size(local)))
        elif (snapshot := _cached_snapshot(model)) is not None:
            states.append(ModelState(name, model, "hub cache", snapshot, _folder_size(snapshot)))
        else:
            states.append(ModelState(name, model, "missing", None, 0))
    return states


def human_size(size: int) -> str:
    """1.9 GB, 340 MB, 12 kB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def list_models(config: Config) -> int:
    """Print one line per configured model; exit 1 when any is missing (so scripts can check)."""
    states = model_states(config)
    width = max(len(s.name) for s in states)
    for state in states:
        where = "missing: run `python -m bot models pull " + state.name + "`" if state.where == "missing" else \
            f"present ({state.where}, {human_size(state.size_bytes)}) {state.path}"
        print(f"{state.name:<{width}}  {state.model}  {where}")
    return 1 if any(s.where == "missing" for s in states) else 0


def pull_models(config: Config, names: list[str], *, offline: bool) -> int:
    """Download the named (default: all) configured hub models into the cache, with progress bars."""
    models = configured_models(config)
    unknown = [n for n in names if n not in models]
    if unknown:
        raise StartupError(f"no configured model named {', '.join(unknown)}: the names are {', '.join(models)}")
    failed = 0
    for name in names or list(models):
        model = models[name]
        if Path(model).expanduser().is_dir():
            print(f"{name}: {model} is a local folder; nothing to pull")
            continue
        path = _download(name, model, offline=offline)
        if path is None:
            failed += 1
        else:
            print(f"{name}: {model} ready in {path} ({human_size(_folder_size(path))})")
    return 1 if failed else 0


def _download(name: str, model: str, *, offline: bool) -> Path | None:
    """The pipeline's files for `model` (safetensors only), or None after printing why not."""
    _quiet_library_chatter()
    print(f"{name}: fetching {model} (safetensors only)", flush=True)
    # Ask the hub first: a wrong id or an unreachable hub is named in a second, before diffusers (and torch) load,
    # and in our words rather than diffusers' "not fully cached locally ... see the stacktrace above".
    if not offline and (problem := _hub_problem(model)) is not None:
        print(f"imagine-bot: {name}: {model} could not be fetched: {problem}", file=sys.stderr)
        return None
    try:
        from diffusers import DiffusionPipeline

        return Path(DiffusionPipeline.download(model, use_safetensors=True, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - hub, network and format errors all end in one line per model
        if offline:
            print(f"imagine-bot: {name}: {model} is not in the cache and HF_HUB_OFFLINE is set: pull it on a "
                  "machine with network access (or unset HF_HUB_OFFLINE)", file=sys.stderr)
        else:
            print(f"imagine-bot: {name}: {model} could not be fetched: {_first_line(exc)}", file=sys.stderr)
        return None


def _hub_problem(model: str) -> str | None:
    """Why the hub (HF_ENDPOINT) will not serve `model`, in one line naming it; None when it will."""
    from huggingface_hub import constants, model_info
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    hub = constants.ENDPOINT
    try:
        model_info(model)
    except GatedRepoError:
        return f"it is gated on {hub}: accept its terms there and set HF_TOKEN"
    except RepositoryNotFoundError:
        return f"{hub} has no such repository (or it is private and HF_TOKEN is not set)"
    except HfHubHTTPError as exc:
        return f"{hub} answered HTTP {exc.response.status_code}"
    except Exception as exc:  # noqa: BLE001 - refused, DNS, TLS, timeouts: the HTTP client's classes vary by version
        return f"cannot reach {hub}: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quiet_library_chatter() -> None:
    """Keep the pull's output to our lines and the progress bars.

    The hub's HTTP client logs every request at INFO (two per file), and diffusers warns "Couldn't connect to the
    Hub ... Will try to load from local cache" when a download fails halfway, before we say so in one line.
    """
    for logger in ("httpx", "httpx2"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    logging.getLogger("diffusers.pipelines.pipeline_utils").setLevel(logging.ERROR)
