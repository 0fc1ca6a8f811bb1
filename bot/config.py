"""The one place that reads configuration files and the environment.

Everything else receives a frozen `Config`. Validation happens here, once, at start, with errors that name the
bad key and value, so a typo in config.toml fails loudly instead of silently using a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.config_tables import (
    DEFAULT_MODEL_NAME,
    ConfigError,
    LimitSettings,
    ProfileSettings,
    QuotaSettings,
    parse_limits,
    parse_profiles,
    parse_quotas,
)
from generation.errors import RequestError
from generation.fast import FAST_SAMPLERS, FewStep
from generation.networks import MAX_LORA_WEIGHT, LoraFile
from generation.networks import NAME as NETWORK_NAME
from generation.samplers import resolve_sampler

DEFAULT_CONFIG_PATH = Path("config.toml")
__all__ = ["Config", "ConfigError", "LimitSettings", "ProfileSettings", "QuotaSettings", "load_config",
           "parse_config"]


@dataclass(frozen=True)
class DiscordSettings:
    """How the bot reaches Discord."""

    token: str | None = None
    guild_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()
    attachment_hosts: tuple[str, ...] = ("cdn.discordapp.com", "media.discordapp.net")
    api_base: str | None = None
    gateway_url: str | None = None


@dataclass(frozen=True)
class ModelSettings:
    """Which model generates, and on what device."""

    default: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    device: str = "auto"
    # Optional diffusers 2x latent upscaler for U buttons (hub id or folder); empty: Lanczos, no extra weights.
    upscaler: str = ""
    # Extra models members may pick by name (/imagine model:<name>): name -> hub id or local folder.
    choices: Mapping[str, str] = field(default_factory=dict)
    # The [fast_models.<name>] entry that `/imagine ... --fast` uses; empty: --fast is refused with a message.
    fast: str = ""
    # Optional AutoencoderTiny (TAESD) for true-colour previews every step, and for fast models' final decode.
    preview_vae: str = ""
    # torch.compile the UNet (and on CUDA the VAE decoder): slow first start; the cache in <data>/compile-cache is kept.
    compile: bool = False


@dataclass(frozen=True)
class DiagnosticsSettings:
    """Self-measurement the bot logs."""

    # Every this many seconds the bot logs its event loop's lateness (p50/p99/max); 0 turns it off.
    loop_lag_seconds: float = 60.0


@dataclass(frozen=True)
class FastModelSettings:
    """A few-step model ([fast_models.<name>]): its weights, scheduler and steps; guidance is always off."""

    model: str
    lora: str = ""  # e.g. an LCM-LoRA fused into `model` (safetensors only)
    scheduler: str = "lcm"  # lcm, euler_trailing or default (the model's own)
    steps: int = 4  # 1 to 8
    decoder: str = "full"  # full (the model's VAE) or preview_vae (TAESD: much faster, a little softer)
    enhance_model: str = ""  # the full model the Enhance buttons re-render with; empty: model.default


@dataclass(frozen=True)
class GenerationSettings:
    """Defaults for jobs; prompt flags override them per job."""

    width: int = 512
    height: int = 512
    steps: int = 25
    guidance_scale: float = 7.0
    sampler: str = "default"
    variation_subtle: float = 0.15
    variation_strong: float = 0.35
    refine_strength: float = 0.3
    img2img_subtle: float = 0.35
    img2img_strong: float = 0.6
    max_side: int = 2048


@dataclass(frozen=True)
class UploadSettings:
    """Caps checked before an uploaded image is decoded."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 4096 * 4096


@dataclass(frozen=True)
class QueueSettings:
    """Leases and retries (per-member limits are in [limits])."""

    lease_seconds: float = 60.0
    heartbeat_seconds: float = 15.0
    max_attempts: int = 3
    poll_seconds: float = 1.0


@dataclass(frozen=True)
class WorkerSettings:
    """Whether `python -m bot` runs a worker, and how it shuts down."""

    embedded: bool = True
    shutdown_grace_seconds: float = 30.0
    id: str = ""


@dataclass(frozen=True)
class StorageSettings:
    """Where images live: the data folder ("local") or an S3-compatible bucket ("s3") that the bot and workers on
    other machines share; S3 credentials come from the environment (AWS_ACCESS_KEY_ID, ...), never from here."""

    backend: str = "local"
    bucket: str = ""
    prefix: str = ""  # object keys are <prefix>/outputs/<job_id>/... and <prefix>/uploads/...
    endpoint: str = ""  # empty: AWS itself; else MinIO, R2, Ceph... (http(s)://host:port)
    region: str = ""  # empty: AWS_DEFAULT_REGION or boto3's default


@dataclass(frozen=True)
class PrioritySettings:
    """Fair-scheduling weights by member id and role id."""

    users: Mapping[int, float] = field(default_factory=dict)
    roles: Mapping[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModerationSettings:
    """Who moderates, where their actions are posted, and what members may not ask for."""

    # Members with one of these roles are moderators, besides everyone with Manage Server.
    moderator_role_ids: tuple[int, ...] = ()
    # A channel that receives every moderator action; 0: none (the audit table still records them).
    log_channel_id: int = 0
    # Whole words, matched after normalisation (look-alike letters, digit swaps, "n.u.d.e" spellings).
    banned_words: tuple[str, ...] = ()
    # Regular expressions, searched in the case-folded prompt and in its normalised readings.
    banned_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetySettings:
    """The NSFW image classifier the worker runs on every output image."""

    classifier: str = "opennsfw"  # or "off"
    threshold: float = 0.8  # an image scoring at least this is flagged; 0 flags every image


@dataclass(frozen=True)
class MetricsSettings:
    """The Prometheus /metrics and /healthz endpoint; port 0 turns it off."""

    port: int = 0
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class LoggingSettings:
    """Log lines: "text" for people, "json" for log collectors."""

    format: str = "text"
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    """Everything the bot and the worker are configured with."""

    discord: DiscordSettings = field(default_factory=DiscordSettings)
    database_url: str = "sqlite+aiosqlite:///data/imagine.db"
    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    data_dir: Path = Path("data")
    storage: StorageSettings = field(default_factory=StorageSettings)
    priority: PrioritySettings = field(default_factory=PrioritySettings)
    moderation: ModerationSettings = field(default_factory=ModerationSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    # [loras.<name>] and [embeddings.<name>]: what prompts may use as <lora:name:weight> and as words.
    loras: Mapping[str, LoraFile] = field(default_factory=dict)
    embeddings: Mapping[str, str] = field(default_factory=dict)
    fast_models: Mapping[str, FastModelSettings] = field(default_factory=dict)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)

    def few_step(self, name: str) -> FewStep:
        """How fast model `name` runs (its final decoder resolved to model.preview_vae where asked)."""
        entry = self.fast_models[name]
        vae = self.model.preview_vae if entry.decoder == "preview_vae" else ""
        return FewStep(model=entry.model, lora=entry.lora, sampler=entry.scheduler, steps=entry.steps, vae=vae)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    # Images (outputs, previews, uploads) older than this many days are deleted; the jobs' rows stay.
    data_keep_days: int = 30
    limits: LimitSettings = field(default_factory=LimitSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    profiles: Mapping[str, ProfileSettings] = field(default_factory=lambda: parse_profiles({}, {DEFAULT_MODEL_NAME}))

    @property
    def outputs_dir(self) -> Path:
        """Where each job's images go: outputs/<job_id>/."""
        return self.data_dir / "outputs"

    @property
    def uploads_dir(self) -> Path:
        """Where checked user uploads are kept for their jobs."""
        return self.data_dir / "uploads"


# (min, max) for numeric keys; both inclusive.
_RANGES: dict[str, tuple[float, float]] = {
    "generation.width": (64, 2048),
    "generation.height": (64, 2048),
    "generation.steps": (1, 150),
    "generation.guidance_scale": (0.0, 30.0),
    "generation.variation_subtle": (0.0, 1.0),
    "generation.variation_strong": (0.0, 1.0),
    "generation.refine_strength": (0.01, 1.0),
    "generation.img2img_subtle": (0.01, 1.0),
    "generation.img2img_strong": (0.01, 1.0),
    "generation.max_side": (64, 8192),
    "uploads.max_bytes": (1024, 100 * 1024 * 1024),
    "uploads.max_pixels": (64 * 64, 16384 * 16384),
    "queue.lease_seconds": (5, 3600),
    "queue.heartbeat_seconds": (0.1, 600),
    "queue.max_attempts": (1, 20),
    "queue.poll_seconds": (0.01, 60),
    "worker.shutdown_grace_seconds": (0, 3600),
    "diagnostics.loop_lag_seconds": (0, 86400),
    "metrics.port": (0, 65535),
    "safety.threshold": (0.0, 1.0),
}


def _section(raw: Mapping[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    """Return one [section] as a dict, refusing unknown keys (typos) by name."""
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config: [{name}] must be a table, got {value!r}")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"config: unknown key {name}.{key} (known: {', '.join(sorted(allowed))})")
    return value


def _typed(section: str, cls: type, values: dict[str, Any]) -> Any:
    """Build a settings dataclass, checking each value's type and range."""
    out: dict[str, Any] = {}
    defaults = cls()
    for f in fields(cls):
        if f.name not in values:
            continue
        value, default, key = values[f.name], getattr(defaults, f.name), f"{section}.{f.name}"
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok = isinstance(value, str) and value.strip() != ""
        else:
            ok = True
        if not ok:
            raise ConfigError(f"config: {key} = {value!r} is not a valid {type(default).__name__}")
        if key in _RANGES:
            low, high = _RANGES[key]
            if not low <= value <= high:
                raise ConfigError(f"config: {key} = {value!r} is out of range ({low:g} to {high:g})")
        out[f.name] = value
    return cls(**out)


def _id_list(key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
        raise ConfigError(f"config: {key} = {value!r} must be a list of positive integer ids")
    return tuple(value)


def _weights(key: str, value: Any) -> dict[int, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"config: {key} = {value!r} must be a table of id = weight")
    out = {}
    for k, v in value.items():
        if not str(k).isdigit():
            raise ConfigError(f"config: {key} has key {k!r}, which is not a Discord id")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.01 <= v <= 100:
            raise ConfigError(f"config: {key}.{k} = {v!r} must be a weight from 0.01 to 100")
        out[int(k)] = float(v)
    return out


def _model_choices(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"config: model.choices = {value!r} must be a table of name = model id or folder")
    for name, model in value.items():
        if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
            raise ConfigError(f"config: model.choices has name {name!r}; use 1-32 of a-z, 0-9, _ and -")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"config: model.choices.{name} = {model!r} must be a hub id or a folder")
    return dict(value)


def _fast_models(value: Any, preview_vae: str, choices: Mapping[str, str]) -> dict[str, FastModelSettings]:
    """[fast_models.<name>] tables, each checked key by key."""
    if not isinstance(value, dict):
        raise ConfigError(f"config: [fast_models] = {value!r} must hold tables [fast_models.<name>]")
    keys = {f.name for f in fields(FastModelSettings)}
    out = {}
    for name, entry in value.items():
        key = f"fast_models.{name}"
        if not re.fullmatch(r"[a-z0-9_-]{1,32}", name) or name in choices:
            raise ConfigError(f"config: [{key}]: use 1-32 of a-z, 0-9, _ and -, and a name not in model.choices")
        if not isinstance(entry, dict):
            raise ConfigError(f"config: {key} = {entry!r} must be a table with model = \"...\"")
        for item in entry:
            if item not in keys:
                raise ConfigError(f"config: unknown key {key}.{item} (known: {', '.join(sorted(keys))})")
        for item in ("model", "lora", "scheduler", "decoder", "enhance_model"):
            if item in entry and not isinstance(entry[item], str):
                raise ConfigError(f"config: {key}.{item} = {entry[item]!r} must be a string")
        if not str(entry.get("model", "")).strip():
            raise ConfigError(f"config: {key}.model is missing: the hub id or folder of the few-step model")
        steps = entry.get("steps", FastModelSettings.steps)
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ConfigError(f"config: {key}.steps = {steps!r} must be a whole number from 1 to 8")
        settings = FastModelSettings(**entry)
        if settings.decoder not in ("full", "preview_vae"):
            raise ConfigError(f"config: {key}.decoder = {settings.decoder!r} must be full or preview_vae")
        if settings.decoder == "preview_vae" and not preview_vae:
            raise ConfigError(f"config: {key}.decoder = \"preview_vae\" needs model.preview_vae (a TAESD model)")
        try:
            FewStep(model=settings.model, lora=settings.lora, sampler=settings.scheduler, steps=settings.steps)
        except RequestError as exc:
            raise ConfigError(f"config: [{key}]: {exc} (schedulers: {', '.join(FAST_SAMPLERS)})") from None
        out[name] = settings
    return out


def _worker_settings(values: dict[str, Any]) -> WorkerSettings:
    worker_id = values.pop("id", "")
    if not isinstance(worker_id, str) or len(worker_id) > 120:
        raise ConfigError(f"config: worker.id = {worker_id!r} must be a name of at most 120 characters")
    settings = _typed("worker", WorkerSettings, values)
    return WorkerSettings(embedded=settings.embedded, shutdown_grace_seconds=settings.shutdown_grace_seconds,
                          id=worker_id)


def _moderation(raw: Mapping[str, Any]) -> ModerationSettings:
    values = _section(raw, "moderation", {"moderator_role_ids", "log_channel_id", "banned_words", "banned_patterns"})
    channel = values.get("log_channel_id", 0)
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        raise ConfigError(f"config: moderation.log_channel_id = {channel!r} must be a channel id, or 0 for none")
    words, patterns = _banned(values)
    return ModerationSettings(
        moderator_role_ids=_id_list("moderation.moderator_role_ids", values.get("moderator_role_ids", [])),
        log_channel_id=channel, banned_words=words, banned_patterns=patterns)


def _banned(values: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """banned_words and banned_patterns: lists of strings; each pattern must compile and each word keep a letter."""
    from bot.prompt_filter import normalise

    lists = {}
    for key in ("banned_words", "banned_patterns"):
        value = values.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"config: moderation.{key} = {value!r} must be a list of non-empty strings")
        lists[key] = tuple(value)
    for word in lists["banned_words"]:
        if not normalise(word)[0]:
            raise ConfigError(f"config: moderation.banned_words has {word!r}, which has no letters or digits")
    for index, pattern in enumerate(lists["banned_patterns"]):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"config: moderation.banned_patterns[{index}] = {pattern!r} is not a valid regular "
                              f"expression: {exc}") from None
    return lists["banned_words"], lists["banned_patterns"]


def _safety(values: dict[str, Any]) -> SafetySettings:
    settings = _typed("safety", SafetySettings, values)
    if settings.classifier not in ("opennsfw", "off"):
        raise ConfigError(f"config: safety.classifier = {settings.classifier!r} must be \"opennsfw\" or \"off\"")
    return settings


def _networks(raw: Mapping[str, Any], section: str, keys: set[str]) -> dict[str, dict[str, Any]]:
    """The [section.<name>] tables: valid names, known keys, a .safetensors path each."""
    tables = raw.get(section, {})
    if not isinstance(tables, dict):
        raise ConfigError(f"config: [{section}] must hold tables like [{section}.name], got {tables!r}")
    for name, table in tables.items():
        if not NETWORK_NAME.fullmatch(name):
            raise ConfigError(f"config: [{section}.{name}]: use 1-64 of A-Z, a-z, 0-9, _, . and - in the name")
        if not isinstance(table, dict):
            raise ConfigError(f"config: {section}.{name} = {table!r} must be a table with a path")
        for key in table:
            if key not in keys:
                raise ConfigError(f"config: unknown key {section}.{name}.{key} (known: {', '.join(sorted(keys))})")
        path = table.get("path")
        if not isinstance(path, str) or not path.lower().endswith(".safetensors"):
            raise ConfigError(f"config: {section}.{name}.path = {path!r} must be a .safetensors file "
                              "(pickle formats can run code when loaded)")
    return tables


def _loras(raw: Mapping[str, Any]) -> dict[str, LoraFile]:
    loras = {}
    for name, table in _networks(raw, "loras", {"path", "weight"}).items():
        weight = table.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not abs(weight) <= MAX_LORA_WEIGHT:
            raise ConfigError(f"config: loras.{name}.weight = {weight!r} must be a number from "
                              f"{-MAX_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}")
        loras[name] = LoraFile(path=table["path"], weight=float(weight))
    return loras


def parse_config(raw: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Validate a parsed TOML document plus the environment into a Config (pure: no I/O)."""
    known = {"discord", "database", "model", "generation", "uploads", "queue", "worker", "data", "storage",
             "priority", "moderation", "safety", "loras", "embeddings", "fast_models", "diagnostics",
             "metrics", "logging", "limits", "quotas", "profiles"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"config: unknown section [{key}] (known: {', '.join(sorted(known))})")
    d = _section(raw, "discord", {"guild_ids", "channel_ids", "attachment_hosts"})
    hosts = d.get("attachment_hosts", list(DiscordSettings.attachment_hosts))
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise ConfigError(f"config: discord.attachment_hosts = {hosts!r} must be a list of host names")
    discord = DiscordSettings(
        token=env.get("DISCORD_TOKEN") or None,
        guild_ids=_id_list("discord.guild_ids", d.get("guild_ids", [])),
        channel_ids=_id_list("discord.channel_ids", d.get("channel_ids", [])),
        attachment_hosts=tuple(hosts),
        api_base=env.get("DISCORD_API_BASE") or None,
        gateway_url=env.get("DISCORD_GATEWAY_URL") or None,
    )
    database = _section(raw, "database", {"url"})
    url = env.get("DATABASE_URL") or database.get("url", Config.database_url)
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"config: database.url = {url!r} is not an SQLAlchemy URL")
    model_raw = _section(raw, "model", {"default", "device", "choices", "upscaler", "fast", "preview_vae", "compile"})
    upscaler = model_raw.pop("upscaler", "")
    if not isinstance(upscaler, str):
        raise ConfigError(f"config: model.upscaler = {upscaler!r} must be a hub id, a folder or empty")
    optional = {key: model_raw.pop(key, "") for key in ("fast", "preview_vae")}
    for key, value in optional.items():
        if not isinstance(value, str):
            raise ConfigError(f"config: model.{key} = {value!r} must be a string (empty: none)")
    choices = _model_choices(model_raw.pop("choices", {}))
    model = _typed("model", ModelSettings, model_raw)
    model = ModelSettings(default=env.get("IMAGINE_MODEL") or model.default, device=model.device, choices=choices,
                          upscaler=upscaler, compile=model.compile, **optional)
    fast_models = _fast_models(raw.get("fast_models", {}), model.preview_vae, choices)
    if model.fast and model.fast not in fast_models:
        raise ConfigError(f"config: model.fast = {model.fast!r} names no [fast_models.<name>] table "
                          f"(defined: {', '.join(sorted(fast_models)) or 'none'})")
    if model.device != "auto" and not (model.device == "cpu" or model.device.startswith(("cuda", "mps"))):
        raise ConfigError(f"config: model.device = {model.device!r} must be auto, cpu, cuda, cuda:N or mps")
    generation = _typed("generation", GenerationSettings,
                        _section(raw, "generation", {f.name for f in fields(GenerationSettings)}))
    try:  # an id (dpmpp_2m_karras) or A1111's name ("DPM++ 2M Karras"); requests store the id
        resolve_sampler(generation.sampler)
    except ValueError as error:
        raise ConfigError(f"config: generation.sampler: {error}") from None
    for side in ("width", "height"):
        if getattr(generation, side) % 8:
            raise ConfigError(f"config: generation.{side} = {getattr(generation, side)} must be a multiple of 8")
    data = _section(raw, "data", {"dir", "keep_days"})
    data_dir = data.get("dir", "data")
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError(f"config: data.dir = {data_dir!r} must be a folder path")
    priority = _section(raw, "priority", {"users", "roles"})
    if isinstance(raw.get("queue"), dict) and "max_active_per_user" in raw["queue"]:
        raise ConfigError(f"config: queue.max_active_per_user = {raw['queue']['max_active_per_user']!r} is gone; "
                          "use [limits] max_queued_per_user and max_running_per_user instead")
    queue = _typed("queue", QueueSettings, _section(raw, "queue", {f.name for f in fields(QueueSettings)}))
    if queue.heartbeat_seconds >= queue.lease_seconds:
        raise ConfigError(f"config: queue.heartbeat_seconds = {queue.heartbeat_seconds:g} must be shorter than "
                          f"queue.lease_seconds = {queue.lease_seconds:g}")
    config = Config(
        discord=discord,
        database_url=url,
        model=model,
        generation=generation,
        uploads=_typed("uploads", UploadSettings, _section(raw, "uploads", {"max_bytes", "max_pixels"})),
        queue=queue,
        worker=embedded_worker_override(
            _worker_settings(_section(raw, "worker", {"embedded", "shutdown_grace_seconds", "id"})), env),
        data_dir=Path(data_dir),
        storage=_storage(_section(raw, "storage", {f.name for f in fields(StorageSettings)})),
        priority=PrioritySettings(users=_weights("priority.users", priority.get("users", {})),
                                  roles=_weights("priority.roles", priority.get("roles", {}))),
        moderation=_moderation(raw),
        safety=_safety(_section(raw, "safety", {"classifier", "threshold"})),
        loras=_loras(raw),
        embeddings={name: table["path"] for name, table in _networks(raw, "embeddings", {"path"}).items()},
        fast_models=fast_models,
        diagnostics=_typed("diagnostics", DiagnosticsSettings,
                           _section(raw, "diagnostics", {f.name for f in fields(DiagnosticsSettings)})),
        **_operations(raw, data, env),
        limits=parse_limits(raw.get("limits", {})),
        quotas=parse_quotas(raw.get("quotas", {})),
        profiles=parse_profiles(raw.get("profiles", {}), {DEFAULT_MODEL_NAME, *model.choices, *fast_models}),
    )
    _check_holds(config)
    return config


def _storage(table: Mapping[str, Any]) -> StorageSettings:
    """[storage]: "local" (the default) or "s3" with a bucket; every key a string, named when wrong."""
    for key, value in table.items():
        if not isinstance(value, str):
            raise ConfigError(f"config: storage.{key} = {value!r} must be a string")
    settings = StorageSettings(**{key: value.strip() for key, value in table.items()})
    if settings.backend not in ("local", "s3"):
        raise ConfigError(f'config: storage.backend = {settings.backend!r} must be "local" or "s3"')
    if settings.backend == "s3" and not settings.bucket:
        raise ConfigError('config: storage.bucket is required when storage.backend = "s3" (the bucket\'s name)')
    if settings.endpoint and not settings.endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"config: storage.endpoint = {settings.endpoint!r} must be an http:// or https:// URL "
                          "(or empty for AWS)")
    return settings


def _check_holds(config: Config) -> None:
    """A profile that holds flagged results needs the moderator log channel they are held in."""
    if config.moderation.log_channel_id:
        return
    for profile in config.profiles.values():
        for key in ("nsfw", "nsfw_channel_policy"):
            if getattr(profile, key) == "hold":
                raise ConfigError(f"config: profiles.{profile.name}.{key} = \"hold\" needs moderation.log_channel_id "
                                  "(held results go to the moderator log channel)")


def _operations(raw: Mapping[str, Any], data: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """[metrics], [logging] and data.keep_days; IMAGINE_METRICS_PORT / _HOST override (one image, many roles)."""
    metrics_raw = dict(_section(raw, "metrics", {"port", "host"}))
    if env.get("IMAGINE_METRICS_PORT"):
        if not env["IMAGINE_METRICS_PORT"].isdigit():
            raise ConfigError(f"IMAGINE_METRICS_PORT = {env['IMAGINE_METRICS_PORT']!r} must be a port number")
        metrics_raw["port"] = int(env["IMAGINE_METRICS_PORT"])
    if env.get("IMAGINE_METRICS_HOST"):
        metrics_raw["host"] = env["IMAGINE_METRICS_HOST"]
    metrics = _typed("metrics", MetricsSettings, metrics_raw)
    logging = _typed("logging", LoggingSettings, _section(raw, "logging", {"format", "level"}))
    if logging.format not in ("text", "json"):
        raise ConfigError(f'config: logging.format = {logging.format!r} must be "text" or "json"')
    if logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"config: logging.level = {logging.level!r} must be DEBUG, INFO, WARNING or ERROR")
    keep_days = data.get("keep_days", Config.data_keep_days)
    if isinstance(keep_days, bool) or not isinstance(keep_days, int) or not 0 <= keep_days <= 36500:
        raise ConfigError(f"config: data.keep_days = {keep_days!r} must be a whole number of days (0: keep forever)")
    return {"metrics": metrics, "logging": logging, "data_keep_days": keep_days}


def embedded_worker_override(settings: WorkerSettings, env: Mapping[str, str]) -> WorkerSettings:
    """IMAGINE_EMBEDDED_WORKER=false|true overrides worker.embedded (compose runs one image as bot and workers)."""
    value = env.get("IMAGINE_EMBEDDED_WORKER", "").strip().lower()
    if not value:
        return settings
    if value not in ("true", "false"):
        raise ConfigError(f"IMAGINE_EMBEDDED_WORKER = {value!r} must be true or false")
    return WorkerSettings(embedded=value == "true", shutdown_grace_seconds=settings.shutdown_grace_seconds,
                          id=settings.id)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read config.toml (or --config / IMAGINE_CONFIG) and the environment into a validated Config."""
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("IMAGINE_CONFIG"))
    config_path = Path(path if path is not None else env.get("IMAGINE_CONFIG") or DEFAULT_CONFIG_PATH)
    raw: dict[str, Any] = {}
    if config_path.exists() or explicit:
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"config: cannot read {config_path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {config_path} is not valid TOML: {exc}") from None
    return parse_config(raw, env)


def export_compile_cache(config: Config) -> None:
    """Point torch.compile's on-disk cache (inductor reads TORCHINDUCTOR_CACHE_DIR) into the data folder, so compiled
    kernels survive restarts; an operator's own setting wins."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str((config.data_dir / "compile-cache").resolve()))
