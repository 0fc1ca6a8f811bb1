"""Who may do what where, as pure functions of the config and the interaction's facts (table-tested, no I/O).

Handlers gather the facts (bot/commands/context.py), these functions decide, and bot/admission.py applies the
decisions inside the enqueue's transaction. A refusal is the member-facing reason as a string; None allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.config_tables import ALL, DEFAULT_MODEL_NAME, ProfileSettings


@dataclass(frozen=True)
class ChannelFacts:
    """What the bot knows about a channel, seen by one member."""

    id: int
    category_id: int | None = None  # the channel's category (for a thread: its parent channel's category)
    nsfw: bool = False  # age-restricted
    is_dm: bool = False
    member_can_view: bool = True  # the member has View Channel there (overwrites and roles applied)


@dataclass(frozen=True)
class JobAsk:
    """What a job asks for, in the terms profiles use."""

    command: str  # "imagine", "vary" or "upscale" (buttons count as the command they stand for)
    model_name: str | None  # "default", a model.choices key, or None for a model the config no longer names
    steps: int
    pixels: int  # width x height of each image (0: not known yet, e.g. before an upload is read)
    images: int = 4  # how many images the job makes (4 for a grid, 1 for an upscale)


def profile_for(profiles: Mapping[str, ProfileSettings], channel: ChannelFacts) -> ProfileSettings:
    """The profile of a channel: listed by id, else by category, else `default`; DMs use `dm`."""
    if channel.is_dm:
        return profiles["dm"]
    for profile in profiles.values():
        if channel.id in profile.channel_ids:
            return profile
    if channel.category_id is not None:
        for profile in profiles.values():
            if channel.category_id in profile.category_ids:
                return profile
    return profiles["default"]


def profile_refusal(profile: ProfileSettings, ask: JobAsk) -> str | None:
    """Why this profile doesn't allow the job, or None."""
    if not profile.commands:
        if profile.name == "dm":
            return "I don't take commands in direct messages; use me in a server channel."
        return "Images aren't made in this channel; try another channel."
    if ALL not in profile.commands and ask.command not in profile.commands:
        allowed = ", ".join(f"/{c}" for c in profile.commands)
        return f"/{ask.command} isn't available in this channel (here you can use {allowed})."
    if ask.model_name is None:
        return "That job's model is no longer offered on this server, so nothing was queued; start again with /imagine."
    if ALL not in profile.models and ask.model_name not in profile.models:
        allowed = ", ".join(profile.models)
        return f"The model {ask.model_name!r} isn't available in this channel (here: {allowed})."
    if profile.max_steps and ask.steps > profile.max_steps:
        return f"This channel allows at most {profile.max_steps} steps; the job asks for {ask.steps}."
    if profile.max_pixels and ask.pixels > profile.max_pixels:
        return (f"This channel allows images of at most {profile.max_pixels:,} pixels; the job's are "
                f"{ask.pixels:,}.")
    return None


def offered_models(default: str, choices: Mapping[str, str], fast_models: Mapping[str, Any]) -> dict[str, str]:
    """Every model id the config offers, with the name profiles use: "default", a choices key, a fast model's name
    (for its weights and for the full model its Enhance buttons use)."""
    names = {default: DEFAULT_MODEL_NAME}
    for name, model in choices.items():
        names.setdefault(model, name)
    for name, fast in fast_models.items():
        names.setdefault(fast.model, name)
        if fast.enhance_model:
            names.setdefault(fast.enhance_model, name)
    return names


def model_name(model_id: str, offered: Mapping[str, str]) -> str | None:
    """The name a profile uses for a stored model id, or None when the config no longer offers it."""
    return offered.get(model_id)


def parent_refusal(job_id: int, parent_channel_id: int | None, here: ChannelFacts,
                   parent_channel: ChannelFacts | None) -> str | None:
    """May a job made in parent_channel be used from `here`? Never names the parent's prompt or channel.

    Allowed from its own channel, or where the member can see the parent's channel and the channel here is at
    least as permissive about NSFW (an age-restricted job stays in age-restricted channels).
    """
    if parent_channel_id == here.id:
        return None
    refusal = (f"Job #{job_id} was made in a channel you can't use it from here; open it where it was posted, "
               "or use a job made in this channel.")
    if parent_channel is None or not parent_channel.member_can_view:
        return refusal
    if parent_channel.nsfw and not here.nsfw:
        return (f"Job #{job_id} was made in an age-restricted channel; it can only be used from an age-restricted "
                "channel.")
    return None


def buttons_refusal(profile: ProfileSettings, job_id: int, owner_id: int, user_id: int) -> str | None:
    """May this member make a child of another member's job here (profiles.<name>.buttons)? None allows."""
    if owner_id == user_id or profile.buttons == "everyone":
        return None
    return (f"In this channel only the member who made job #{job_id} can use its buttons; make your own with "
            "/imagine. Nothing was queued.")
