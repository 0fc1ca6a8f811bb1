"""The configuration tables that admission reads: [limits], [quotas] with role tiers, and [profiles.<name>].

Parsed from already-loaded TOML by bot/config.py (this module reads no files). A profile is a flat dataclass whose
fields are parsed by their default's type, so adding a profile key is one line in ProfileSettings (plus a range in
PROFILE_RANGES when it is numeric).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bot.nsfw_policy import NSFW_POLICIES


class ConfigError(Exception):
    """The configuration or the environment is unusable; the message names the key and value."""


# Commands that create jobs, as named in a profile's `commands` (buttons count as the command they stand for:
# U buttons are "upscale", V buttons "vary", the re-roll button "imagine"). "*" allows every one.
JOB_COMMANDS = ("imagine", "vary", "upscale")
ALL = "*"
# The model name a profile uses for [model] default (other names are the keys of model.choices).
DEFAULT_MODEL_NAME = "default"


@dataclass(frozen=True)
class LimitSettings:
    """Per-member and global caps, checked inside the enqueue's transaction."""

    max_queued_per_user: int = 3
    max_running_per_user: int = 1
    jobs_per_window: int = 10
    window_seconds: int = 600
    max_queue_size: int = 500


@dataclass(frozen=True)
class QuotaTier:
    """A daily (UTC) budget of images and GPU seconds."""

    images_per_day: int = 200
    gpu_seconds_per_day: float = 900.0


@dataclass(frozen=True)
class QuotaSettings:
    """The default tier and per-role tiers (a member gets the best of their roles, key by key)."""

    images_per_day: int = 200
    gpu_seconds_per_day: float = 900.0
    roles: Mapping[int, QuotaTier] = field(default_factory=dict)

    def tier_for(self, role_ids: tuple[int, ...] | list[int]) -> QuotaTier:
        """The best of the default tier and the tiers of these roles, key by key."""
        tiers = [QuotaTier(self.images_per_day, self.gpu_seconds_per_day)]
        tiers += [self.roles[r] for r in role_ids if r in self.roles]
        return QuotaTier(max(t.images_per_day for t in tiers), max(t.gpu_seconds_per_day for t in tiers))


@dataclass(frozen=True)
class ProfileSettings:
    """What one kind of channel allows. Empty or 0 means "no cap of its own" where noted."""

    name: str = "default"
    channel_ids: tuple[int, ...] = ()
    category_ids: tuple[int, ...] = ()
    commands: tuple[str, ...] = (ALL,)  # job commands allowed here; () allows none
    models: tuple[str, ...] = (ALL,)  # model names allowed here ("default" or model.choices keys)
    max_steps: int = 0  # 0: only the global --steps range
    max_pixels: int = 0  # 0: only the global size rules
    quota_multiplier: float = 1.0  # a job here costs this many times its images and GPU seconds
    tip: str = ""  # a line shown under results made here
    # Who may use U/V/re-roll (and /vary, /upscale, Remix) on another member's job here: "everyone" (the clicker
    # owns and pays for the child, as on Midjourney) or "owner" (only the job's owner).
    buttons: str = "everyone"
    nsfw: str = "spoiler"  # flagged results: "allow" (as they are), "spoiler" (SPOILER_ files) or "hold" (moderators)
    nsfw_channel_policy: str = "allow"  # the same, in Discord age-restricted channels


PROFILE_RANGES: dict[str, tuple[float, float]] = {
    "max_steps": (0, 150),
    "max_pixels": (0, 8192 * 8192),
    "quota_multiplier": (0.0, 100.0),
}
LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "max_queued_per_user": (1, 1000),
    "max_running_per_user": (1, 100),
    "jobs_per_window": (1, 100000),
    "window_seconds": (1, 7 * 86400),
    "max_queue_size": (1, 1000000),
}
QUOTA_RANGES: dict[str, tuple[float, float]] = {
    "images_per_day": (0, 1000000),
    "gpu_seconds_per_day": (0, 86400 * 100),
}
BUTTONS_RULES = ("everyone", "owner")  # profiles.<name>.buttons
DM_PROFILE = ProfileSettings(name="dm", commands=())  # off unless [profiles.dm] says otherwise


def typed_table(section: str, cls: type, values: Mapping[str, Any], ranges: Mapping[str, tuple[float, float]],
                base: Any = None) -> Any:
    """Build a flat settings dataclass from a TOML table by each field's default type; names key and value."""
    base = cls() if base is None else base
    known = {f.name for f in fields(cls)} - {"name"}
    if not isinstance(values, Mapping):
        raise ConfigError(f"config: [{section}] must be a table, got {values!r}")
    for key in values:
        if key not in known:
            raise ConfigError(f"config: unknown key {section}.{key} (known: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for name, value in values.items():
        default, key = getattr(base, name), f"{section}.{name}"
        if isinstance(default, tuple):
            want_ids = name.endswith("_ids")
            good = isinstance(value, list) and all(
                (isinstance(v, int) and not isinstance(v, bool) and v > 0) if want_ids
                else (isinstance(v, str) and v.strip() != "") for v in value)
            if not good:
                kind = "positive integer ids" if want_ids else "names"
                raise ConfigError(f"config: {key} = {value!r} must be a list of {kind}")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"config: {key} = {value!r} is not a valid bool")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"config: {key} = {value!r} is not a valid int")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"config: {key} = {value!r} is not a valid float")
            value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"config: {key} = {value!r} is not a valid str")
        if name in ranges:
            low, high = ranges[name]
            if not low <= value <= high:
                raise ConfigError(f"config: {key} = {value!r} is out of range ({low:g} to {high:g})")
        out[name] = value
    return replace(base, **out)


def parse_limits(raw: Any) -> LimitSettings:
    """[limits]."""
    return typed_table("limits", LimitSettings, raw, LIMIT_RANGES)


def parse_quotas(raw: Any) -> QuotaSettings:
    """[quotas] with [quotas.roles."<role id>"] tiers."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: [quotas] must be a table, got {raw!r}")
    values = dict(raw)
    roles_raw = values.pop("roles", {})
    base = typed_table("quotas", QuotaTier, values, QUOTA_RANGES)
    if not isinstance(roles_raw, Mapping):
        raise ConfigError(f"config: quotas.roles = {roles_raw!r} must be a table of role id = tier")
    roles: dict[int, QuotaTier] = {}
    for role, tier in roles_raw.items():
        if not str(role).isdigit():
            raise ConfigError(f"config: quotas.roles has key {role!r}, which is not a Discord role id")
        # A role tier starts from the default tier, so it may raise just one of the two budgets.
        roles[int(role)] = typed_table(f"quotas.roles.{role}", QuotaTier, tier, QUOTA_RANGES, base=base)
    return QuotaSettings(images_per_day=base.images_per_day, gpu_seconds_per_day=base.gpu_seconds_per_day,
                         roles=roles)


def parse_profiles(raw: Any, model_names: set[str]) -> dict[str, ProfileSettings]:
    """[profiles.<name>]: always a `default` and a `dm` profile; others inherit the default's rules."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: [profiles] must be a table of named profiles, got {raw!r}")
    for name, table in raw.items():
        if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
            raise ConfigError(f"config: profiles has name {name!r}; use 1-32 of a-z, 0-9, _ and -")
        if not isinstance(table, Mapping):
            raise ConfigError(f"config: [profiles.{name}] must be a table, got {table!r}")
    default = typed_table("profiles.default", ProfileSettings, raw.get("default", {}), PROFILE_RANGES)
    if default.channel_ids or default.category_ids:
        raise ConfigError("config: profiles.default covers every channel without a profile; "
                          "it takes no channel_ids or category_ids")
    inherited = replace(default, channel_ids=(), category_ids=())
    profiles = {"default": default}
    dm_base = replace(inherited, name="dm", commands=DM_PROFILE.commands)
    profiles["dm"] = typed_table("profiles.dm", ProfileSettings, raw.get("dm", {}), PROFILE_RANGES, base=dm_base)
    for name, table in raw.items():
        if name not in profiles:
            profiles[name] = typed_table(f"profiles.{name}", ProfileSettings, table, PROFILE_RANGES,
                                         base=replace(inherited, name=name))
    _check_profiles(profiles, model_names)
    return profiles


def _check_profiles(profiles: Mapping[str, ProfileSettings], model_names: set[str]) -> None:
    """Known commands and models; no channel or category in two profiles."""
    owner: dict[tuple[str, int], str] = {}
    for profile in profiles.values():
        if profile.buttons not in BUTTONS_RULES:
            raise ConfigError(f"config: profiles.{profile.name}.buttons = {profile.buttons!r} must be one of "
                              f"{', '.join(repr(rule) for rule in BUTTONS_RULES)}")
        for command in profile.commands:
            if command != ALL and command not in JOB_COMMANDS:
                raise ConfigError(f"config: profiles.{profile.name}.commands has {command!r}; use {ALL!r} or "
                                  f"some of {', '.join(JOB_COMMANDS)}")
        for model in profile.models:
            if model != ALL and model not in model_names:
                raise ConfigError(f"config: profiles.{profile.name}.models has {model!r}; use {ALL!r}, "
                                  f"{DEFAULT_MODEL_NAME!r} or a name from model.choices")
        for key in ("nsfw", "nsfw_channel_policy"):
            if getattr(profile, key) not in NSFW_POLICIES:
                raise ConfigError(f"config: profiles.{profile.name}.{key} = {getattr(profile, key)!r} must be one of "
                                  f"{', '.join(NSFW_POLICIES)}")
        for kind, ids in (("channel", profile.channel_ids), ("category", profile.category_ids)):
            for snowflake in ids:
                if (kind, snowflake) in owner:
                    raise ConfigError(f"config: {kind} {snowflake} is in profiles.{owner[kind, snowflake]} and "
                                      f"profiles.{profile.name}; a {kind} belongs to one profile")
                owner[kind, snowflake] = profile.name
