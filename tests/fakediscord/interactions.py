"""Interactions a test user starts, the payloads Discord sends for them, and what the bot answered."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakediscord.commands import SUB_COMMAND, SUB_COMMAND_GROUP
from tests.fakediscord.messages import Message, MessageStore
from tests.fakediscord.state import World

APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT = 2, 3, 5
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL = 1, 4, 5, 6, 7, 9
# Discord forgets an interaction that is not acknowledged within 3 s; its token lives 15 minutes.
CALLBACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60.0


@dataclass
class Callback:
    """The bot's answer to an interaction (POST .../callback)."""

    type: int
    data: dict
    files: list[tuple[str, str, bytes]]
    elapsed_s: float

    @property
    def content(self) -> str | None:
        """The message content, if the callback carried one."""
        return self.data.get("content")

    @property
    def flags(self) -> int:
        """Message flags (64 is ephemeral)."""
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        """Whether only the user sees the reply."""
        return bool(self.flags & 64)

    @property
    def components(self) -> list:
        """Action rows sent with the callback."""
        return self.data.get("components") or []

    @property
    def attachments(self) -> list:
        """The attachments array of the callback payload."""
        return self.data.get("attachments") or []


@dataclass
class InteractionRecord:
    """One interaction: the INTERACTION_CREATE payload sent, and the responses that came back."""

    id: int
    token: str
    type: int
    payload: dict
    channel_id: int
    user_id: int
    created_at: float
    store: MessageStore
    message_id: int | None = None
    callback: Callback | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    acknowledged: bool = False
    opened_by: "InteractionRecord | None" = None
    dispatched_at: float = field(default_factory=time.monotonic)
    _responded: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_response(self, timeout: float = 5.0) -> Callback:
        """The callback, waiting for it up to `timeout` real seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._responded.wait()
        except TimeoutError:
            data = self.payload.get("data", {})
            what = data.get("name") or data.get("custom_id")
            raise TimeoutError(f"interaction {self.id} ({what!r}) got no callback within {timeout} s") from None
        assert self.callback is not None
        return self.callback

    def responded(self, callback: Callback) -> None:
        """Record the callback and wake waiters."""
        self.callback = callback
        self._responded.set()

    @property
    def original(self) -> Message | None:
        """The current state of the original response message (None after type 9, or if deleted)."""
        return self.store.get(self.original_id) if self.original_id else None

    @property
    def followups(self) -> list[Message]:
        """Follow-up messages that still exist, oldest first."""
        return [m for i in self.followup_ids if (m := self.store.get(i)) is not None]


def base_payload(world: World, record_id: int, token: str, kind: int, channel_id: int, user_id: int) -> dict:
    """The fields every INTERACTION_CREATE carries; discord.py 2.7 reads all of these."""
    channel = world.channels[channel_id]
    payload: dict[str, Any] = {
        "id": str(record_id), "application_id": str(world.application_id), "type": kind, "token": token,
        "version": 1, "channel_id": str(channel_id), "channel": channel.payload(),
        "app_permissions": str(world.channel_permissions(world.bot.id, channel_id)), "locale": "en-US",
        "entitlements": [], "entitlement_sku_ids": [], "attachment_size_limit": world.attachment_size_limit,
    }
    if channel.guild_id is not None:
        # Permissions in the interaction's channel, overwrites applied, as Discord computes them.
        member = world.members[user_id].payload() | {"permissions": str(world.channel_permissions(user_id, channel_id))}
        payload.update({
            "guild_id": str(world.guild_id), "guild": {"id": str(world.guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US", "member": member, "context": 0,
            "authorizing_integration_owners": {"0": str(world.guild_id)},
        })
    else:
        payload.update({"user": world.users[user_id].payload(), "context": 1, "authorizing_integration_owners": {"0": "0"}})
    return payload


OPTION_TYPES = {3: str, 4: int, 5: bool, 10: float}
USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT = 6, 7, 8, 9, 11


def command_options(world: World, declared: list[dict], given: dict[str, Any], resolved: dict, attach: Any) -> list[dict]:
    """Typed option values for `given`, checked against the registered options the way Discord's client would."""
    by_name = {o["name"]: o for o in declared}
    unknown = set(given) - set(by_name)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; the command declares {sorted(by_name)}")
    missing = [o["name"] for o in declared if o.get("required") and o["name"] not in given]
    if missing:
        raise ValueError(f"required options missing: {missing}")
    options = []
    for name, value in given.items():
        option = by_name[name]
        kind = option["type"]
        if kind in OPTION_TYPES:
            value = OPTION_TYPES[kind](value)
            check_limits(option, value)
        elif kind in (USER, MENTIONABLE) and int(value) in world.users:
            uid = int(value)
            resolved.setdefault("users", {})[str(uid)] = world.users[uid].payload()
            if uid in world.members:
                # Resolved members are partial: no user (it sits in resolved.users), deaf or mute.
                member = world.members[uid].payload(with_user=False) | {"permissions": str(world.permissions(uid))}
                member.pop("deaf"), member.pop("mute")
                resolved.setdefault("members", {})[str(uid)] = member
            value = str(uid)
        elif kind in (ROLE, MENTIONABLE) and int(value) in world.roles:
            resolved.setdefault("roles", {})[str(value)] = world.roles[int(value)].payload()
            value = str(value)
        elif kind == CHANNEL:
            channel = world.channels[int(value)].payload() | {"permissions": str(world.permissions(world.bot.id))}
            resolved.setdefault("channels", {})[str(value)] = channel
            value = str(value)
        elif kind == ATTACHMENT:
            attachment = attach(*value)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload()
            value = str(attachment.id)
        else:
            raise ValueError(f"option {name} of type {kind} cannot take {value!r}")
        options.append({"name": name, "type": kind, "value": value})
    return options


def check_limits(option: dict, value: Any) -> None:
    """What Discord's client enforces before sending: choices, min/max value and min/max length."""
    name = option["name"]
    choices = [c["value"] for c in option.get("choices") or []]
    if choices and value not in choices:
        raise ValueError(f"option {name}={value!r} is not one of the choices {choices}")
    low, high = option.get("min_value"), option.get("max_value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"option {name}={value!r} is outside [{low}, {high}]")
    if isinstance(value, str):
        shortest, longest = option.get("min_length", 0), option.get("max_length", 6000)
        if not shortest <= len(value) <= longest:
            raise ValueError(f"option {name} has {len(value)} characters, allowed {shortest} to {longest}")


def command_data(world: World, command: dict, path: list[str], given: dict[str, Any], attach: Any,
                 context: int | None = None) -> dict:
    """The `data` of an APPLICATION_COMMAND interaction: subcommands nested, options typed, objects resolved."""
    # Discord's client only offers a command where its contexts (or dm_permission) allow it.
    contexts = command.get("contexts")
    if context is not None and contexts is not None and context not in contexts:
        raise ValueError(f"/{command['name']} cannot be used in interaction context {context} (allowed {contexts})")
    if context == 1 and command.get("dm_permission") is False:
        raise ValueError(f"/{command['name']} is not allowed in DMs")
    declared, parents = command.get("options") or [], []
    for part in path:
        sub = next((o for o in declared if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if sub is None:
            raise LookupError(f"{command['name']} has no subcommand {part!r}")
        parents.append(sub)
        declared = sub.get("options") or []
    resolved: dict = {}
    options = command_options(world, declared, given, resolved, attach)
    for sub in reversed(parents):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": options}
    if resolved:
        data["resolved"] = resolved
    if "guild_id" in command:
        data["guild_id"] = command["guild_id"]
    return data


def find_component(message: Message, custom_id: str) -> dict:
    """The button or select with this custom_id on a message, as a user could click it."""
    for row in message.components:
        for item in row.get("components", []):
            if item.get("custom_id") == custom_id:
                if item.get("disabled"):
                    raise ValueError(f"component {custom_id!r} is disabled")
                return item
    ids = [i.get("custom_id") for r in message.components for i in r.get("components", [])]
    raise LookupError(f"message {message.id} has no component {custom_id!r}; it has {ids}")


def modal_components(modal: dict, values: dict[str, str]) -> list[dict]:
    """The submitted components of a modal, filled with `values` by custom_id."""
    submitted = []
    for top in modal.get("components", []):
        if top.get("type") == 1:
            inner = [{"type": c["type"], "custom_id": c["custom_id"], "value": values.get(c["custom_id"], "")}
                     for c in top.get("components", [])]
            submitted.append({"type": 1, "components": inner})
        elif top.get("type") == 18:
            c = top["component"]
            filled = {"type": c["type"], "custom_id": c["custom_id"]}
            if c["type"] == 4:
                filled["value"] = values.get(c["custom_id"], "")
            else:
                filled["values"] = values.get(c["custom_id"], [])
            submitted.append({"type": 18, "id": top.get("id", 0), "component": filled})
    return submitted
