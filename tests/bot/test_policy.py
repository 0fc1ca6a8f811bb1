"""Pure policy: which profile a channel uses, what a profile allows, and from where a job may be a parent."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, FastModelSettings, parse_config
from bot.policy import (
    ChannelFacts,
    JobAsk,
    buttons_refusal,
    model_name,
    offered_models,
    parent_refusal,
    profile_for,
    profile_refusal,
)

PROFILES = parse_config({"model": {"choices": {"anime": "org/anime"}}, "profiles": {
    "newbies": {"channel_ids": [10], "category_ids": [90], "models": ["default"], "max_steps": 30,
                "max_pixels": 512 * 512, "commands": ["imagine", "vary"], "tip": "Try --ar 16:9"},
    "art": {"category_ids": [91]},
}}, {}).profiles


@pytest.mark.parametrize(("channel", "expected"), [
    (ChannelFacts(id=10), "newbies"),  # listed by id
    (ChannelFacts(id=11, category_id=90), "newbies"),  # by its category
    (ChannelFacts(id=10, category_id=91), "newbies"),  # the channel's own listing beats its category's
    (ChannelFacts(id=12, category_id=91), "art"),
    (ChannelFacts(id=13, category_id=92), "default"),  # neither: the default profile
    (ChannelFacts(id=14), "default"),
    (ChannelFacts(id=15, is_dm=True), "dm"),
])
def test_profile_resolution(channel: ChannelFacts, expected: str) -> None:
    """Channel id, then category, then `default`; DMs use `dm`."""
    assert profile_for(PROFILES, channel).name == expected


def _ask(command: str = "imagine", model: str | None = "default", steps: int = 20, pixels: int = 512 * 512) -> JobAsk:
    return JobAsk(command=command, model_name=model, steps=steps, pixels=pixels)


@pytest.mark.parametrize(("profile", "ask", "refusal"), [
    ("newbies", _ask(), None),
    ("newbies", _ask(command="upscale"), "/upscale isn't available in this channel (here you can use /imagine, /vary)"),
    ("newbies", _ask(model="anime"), "The model 'anime' isn't available in this channel (here: default)"),
    ("newbies", _ask(steps=31), "at most 30 steps; the job asks for 31"),
    ("newbies", _ask(steps=30), None),  # the edge is allowed
    ("newbies", _ask(pixels=512 * 512 + 8), "at most 262,144 pixels"),
    ("newbies", _ask(model=None), "no longer offered"),
    ("default", _ask(command="upscale", model="anime", steps=150, pixels=2048 * 2048), None),
    ("dm", _ask(), "I don't take commands in direct messages"),
    ("art", _ask(model="anime"), None),  # inherits the default's "*"
])
def test_profile_rules(profile: str, ask: JobAsk, refusal: str | None) -> None:
    """Commands, models, steps and pixels are checked in that order, each refusal naming the limit."""
    result = profile_refusal(PROFILES[profile], ask)
    assert (result is None) if refusal is None else (result is not None and refusal in result)


def test_named_profiles_inherit_the_default_but_not_its_channels() -> None:
    """A profile that doesn't set a key takes the default profile's value for it."""
    profiles = parse_config({"profiles": {"default": {"max_steps": 40, "tip": "hi"}, "room": {"channel_ids": [5]}}},
                            {}).profiles
    assert profiles["room"].max_steps == 40 and profiles["room"].tip == "hi"
    assert profiles["dm"].commands == () and profiles["dm"].max_steps == 40


@pytest.mark.parametrize(("model_id", "expected"), [("base/m", "default"), ("org/anime", "anime"), ("org/turbo", "turbo"),
                                                    ("org/full", "turbo"), ("gone/m", None)])
def test_model_names(model_id: str, expected: str | None) -> None:
    """A stored model id maps back to its current name (fast models and their Enhance model included), or None."""
    fast = {"turbo": FastModelSettings(model="org/turbo", enhance_model="org/full")}
    assert model_name(model_id, offered_models("base/m", {"anime": "org/anime"}, fast)) == expected


HERE = ChannelFacts(id=1)
HERE_NSFW = ChannelFacts(id=1, nsfw=True)


@pytest.mark.parametrize(("here", "parent_channel_id", "seen", "allowed"), [
    (HERE, 1, None, True),  # its own channel, whatever the cache knows
    (HERE, 2, ChannelFacts(id=2), True),  # a channel the member can see, not age-restricted
    (HERE, 2, ChannelFacts(id=2, member_can_view=False), False),  # a private channel they can't see
    (HERE, 2, None, False),  # unknown or deleted: can't tell, so no
    (HERE, 2, ChannelFacts(id=2, nsfw=True), False),  # age-restricted job into a normal channel
    (HERE_NSFW, 2, ChannelFacts(id=2, nsfw=True), True),
    (HERE_NSFW, 2, ChannelFacts(id=2), True),  # a normal job into an age-restricted channel is fine
])
def test_parent_visibility(here: ChannelFacts, parent_channel_id: int, seen: ChannelFacts | None,
                           allowed: bool) -> None:
    """Own channel, or a visible channel whose NSFW flag is no stricter than here's."""
    refusal = parent_refusal(7, parent_channel_id, here, seen)
    assert (refusal is None) == allowed
    assert refusal is None or "#7" in refusal


@pytest.mark.parametrize(("rule", "owner", "user", "allowed"), [
    ("everyone", 1, 2, True),  # anyone builds on anyone's grid; the clicker owns the child
    ("everyone", 1, 1, True),
    ("owner", 1, 1, True),  # the owner always may
    ("owner", 1, 2, False),
])
def test_who_may_use_another_members_buttons(rule: str, owner: int, user: int, allowed: bool) -> None:
    """profiles.<name>.buttons: "everyone" lets any member build on a job, "owner" only its owner."""
    profile = parse_config({"profiles": {"default": {"buttons": rule}}}, {}).profiles["default"]
    refusal = buttons_refusal(profile, 7, owner, user)
    assert (refusal is None) == allowed
    assert refusal is None or "job #7" in refusal


def test_an_unknown_buttons_rule_is_refused_naming_it() -> None:
    """A typo in profiles.<name>.buttons stops the bot at start with the key and the value."""
    with pytest.raises(ConfigError, match=r"profiles.newbies.buttons = 'owners'"):
        parse_config({"profiles": {"newbies": {"channel_ids": [5], "buttons": "owners"}}}, {})


def test_every_job_kind_answers_to_a_command_profiles_can_name() -> None:
    """Each kind of job the queue knows maps to a command, so a channel profile can allow or refuse it."""
    from bot.submissions import COMMAND_OF_KIND
    from db.models import JobKind

    assert set(COMMAND_OF_KIND) == {kind.value for kind in JobKind}
    assert set(COMMAND_OF_KIND.values()) <= {"imagine", "vary", "upscale"}
