"""Checks run before the bot or a worker starts, each turning a known failure into one line that names it.

`python -m bot` prints a `StartupError` as `imagine-bot: <message>` and exits with code 2, so an operator (or a
supervisor's log) sees "the data folder is not writable" instead of a traceback from deep inside a library.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import uuid
from pathlib import Path

import aiohttp
import yarl
from sqlalchemy.engine import make_url

from bot.config import Config
from bot.storage import StorageError, store_for

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_SECONDS = 15.0


class StartupError(Exception):
    """A problem found at start; the message is one line that says what is wrong and what to do."""


def masked_url(url: str) -> str:
    """The database URL with its password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by the config check; never echo it whole
        return "<database url>"


def secrets(config: Config) -> list[str]:
    """Strings no log line may show: the Discord token and the database password."""
    try:
        password = make_url(config.database_url).password
    except Exception:  # noqa: BLE001 - an unparsable URL was refused by the config check already
        password = None
    return [s for s in (config.discord.token, password) if s]


def check_data_dir(data_dir: Path) -> None:
    """The data folder exists (created if needed) and a file can be written in it."""
    probe = data_dir / f".write-test-{uuid.uuid4().hex}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"data folder {data_dir} is not writable ({exc.strerror or exc}): fix its permissions "
                           "or set data.dir to a folder this user may write") from None


def check_storage(config: Config) -> None:
    """With `storage.backend = "s3"`: the bucket exists, is reachable and takes these credentials."""
    try:
        store_for(config).check()
    except StorageError as exc:
        raise StartupError(str(exc)) from None


def check_device(device: str) -> None:
    """`model.device = "cuda"` (or cuda:N, mps) names a device this machine has."""
    if not device.startswith(("cuda", "mps")):
        return
    import torch

    if device.startswith("mps"):
        if not torch.backends.mps.is_available():
            raise StartupError(f'model.device = "{device}" but this machine has no Apple GPU: use "auto" or "cpu"')
        return
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__} built with CUDA {torch.version.cuda}" if torch.version.cuda else \
            f"torch {torch.__version__} is a CPU-only build"
        raise StartupError(f'model.device = "{device}" but no CUDA device is available ({build}): '
                           'install the NVIDIA driver and a CUDA build of torch, or set model.device = "auto"')
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise StartupError(f'model.device = "{device}" but this machine has {torch.cuda.device_count()} CUDA '
                           "device(s), numbered from 0")


def configured_models(config: Config) -> dict[str, str]:
    """Every model the configuration names, by the name `python -m bot models pull` takes."""
    models = {"default": config.model.default, **config.model.choices}
    if config.model.upscaler:
        models["upscaler"] = config.model.upscaler
    return models


def _looks_like_folder(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or "\\" in model or model.count("/") > 1


def check_models(models: dict[str, str], *, offline: bool, cache_dir: str | None = None) -> None:
    """Local folders exist; with HF_HUB_OFFLINE set, hub models are already in the cache."""
    from huggingface_hub import try_to_load_from_cache

    for name, model in models.items():
        local = Path(model).expanduser()
        if local.is_dir():
            continue
        if _looks_like_folder(model):
            raise StartupError(f"model {name} = {model!r} is not a folder on this machine: fix the path in "
                               "config.toml, or give a Hugging Face id")
        if offline and not isinstance(try_to_load_from_cache(model, "model_index.json", cache_dir=cache_dir), str):
            raise StartupError(f"model {model} ({name}) is not downloaded and HF_HUB_OFFLINE is set: run "
                               f"`python -m bot models pull {name}` with network access first")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, as huggingface_hub read it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_local(config: Config, *, runs_worker: bool) -> None:
    """The checks that need neither the database nor Discord: data folder, image storage, device, models."""
    check_data_dir(config.data_dir)
    check_storage(config)
    if runs_worker:
        check_device(config.model.device)
        check_models(configured_models(config), offline=hub_offline())
    else:  # the bot alone still reads the default model's tokenizer to check prompt lengths
        check_models({"default": config.model.default}, offline=hub_offline())


async def prepare_database(url: str) -> None:
    """Reach the database, then apply pending migrations, saying which; refuse a schema newer than this code."""
    from db.engine import make_engine
    from db.migrations import upgrade

    try:
        engine = make_engine(url)
    except ValueError as exc:
        raise StartupError(f"config: database.url: {exc}") from None
    except OSError as exc:
        raise StartupError(f"database at {masked_url(url)} cannot be created: {exc.strerror or exc}") from None
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            async with engine.connect() as connection:
                pending = await connection.run_sync(_revisions)
    except StartupError:
        raise
    except Exception as exc:  # noqa: BLE001 - drivers raise their own types for refused, unknown host, bad password
        raise StartupError(f"database unreachable at {masked_url(url)}: {_reason(exc)}: check that the server "
                           "runs and the URL, user and password are right") from None
    finally:
        await engine.dispose()
    if pending:
        log.info("database at %s: applying %d pending migration(s): %s", masked_url(url), len(pending),
                 ", ".join(pending))
        await upgrade(url)
        log.info("database at %s: migrations applied, schema at %s", masked_url(url), pending[-1])


def _revisions(connection) -> list[str]:
    """Pending revisions, oldest first; StartupError if the database is ahead of this code."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from db.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(connection).get_current_heads()
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise StartupError(f"the database's schema is at revision {', '.join(unknown)}, which this version does not "
                           "know: it was migrated by a newer imagine-bot; run that version or restore a backup")
    pending = [rev.revision for rev in script.iterate_revisions("heads", current[0] if current else "base")]
    return list(reversed(pending))


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason for a connection failure."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_SECONDS:g} s"
    original = getattr(exc, "orig", None) or exc.__cause__ or exc
    if isinstance(original, ConnectionRefusedError):
        return "connection refused"
    text = (getattr(original, "strerror", None) or str(original) or type(original).__name__).splitlines()[0]
    return text[:200]


def discord_problem(exc: BaseException, api_base: str) -> str | None:
    """One line for a failure to reach Discord's REST API, or None when `exc` is something else."""
    host = yarl.URL(api_base).host if api_base else "discord.com"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot reach Discord: DNS lookup of {host} failed: check this host's DNS and network"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return (f"cannot reach Discord at {host}: the TLS handshake failed ({_tls_reason(exc)}): check the system "
                "clock, the CA certificates (ca-certificates) and any proxy that intercepts HTTPS")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            return (f"cannot reach Discord at {exc.host}:{exc.port}: connection refused: check the firewall, proxy "
                    "or DISCORD_API_BASE")
        return f"cannot reach Discord at {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return f"cannot reach Discord at {host}: no answer in time: check the network and any proxy"
    return None


def _tls_reason(exc: BaseException) -> str:
    cause = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None) or exc
    return (getattr(cause, "reason", None) or getattr(cause, "verify_message", None) or str(cause)).splitlines()[0]


async def login(bot, token: str, api_base: str | None) -> None:
    """Log in over REST (discord.py's first call), turning network failures into a StartupError."""
    import discord

    try:
        await bot.login(token)
    except discord.LoginFailure:
        raise StartupError("Discord refused DISCORD_TOKEN: check the bot token in the developer portal") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        problem = discord_problem(exc, api_base or "https://discord.com/api/v10")
        if problem is None:
            raise
        raise StartupError(problem) from None
