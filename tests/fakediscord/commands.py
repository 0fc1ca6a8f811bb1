"""Registered application commands, global and per guild, as PUT/POST/PATCH leave them."""

import asyncio
import re
from typing import Any

from tests.fakediscord.clock import Snowflakes
from tests.fakediscord.errors import FormErrors, unknown

NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_COMMANDS = 100
MAX_OPTIONS = 25
CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


def check_command(body: Any, errors: FormErrors, path: tuple = ()) -> None:
    """Name, description and option rules for one command."""
    if not isinstance(body, dict):
        errors.add(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return
    name = body.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    kind = body.get("type", CHAT_INPUT)
    if kind == CHAT_INPUT and isinstance(name, str) and name != name.lower():
        errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    description = body.get("description") or ""
    if kind == CHAT_INPUT and not 1 <= len(description) <= 100:
        errors.add((*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    check_options(body.get("options") or [], errors, (*path, "options"))


def check_options(options: list, errors: FormErrors, path: tuple) -> None:
    """At most 25 options, required ones first, names unique."""
    if len(options) > MAX_OPTIONS:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(options):
        name = option.get("name", "")
        if not NAME.match(name) or name != name.lower():
            errors.add((*path, index, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            errors.add((*path, index, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(name)
        if not 1 <= len(option.get("description") or "") <= 100:
            errors.add((*path, index, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            check_options(option.get("options") or [], errors, (*path, index, "options"))
        elif option.get("required"):
            if seen_optional:
                errors.add((*path, index, "required"), "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                       "Required options must be placed before non-required options")
        else:
            seen_optional = True


def _bits(value: Any) -> str | None:
    return None if value is None else str(int(value))


class CommandRegistry:
    """Commands per scope: None is global, an int is a guild id."""

    def __init__(self, ids: Snowflakes, application_id: int) -> None:
        self._ids = ids
        self._application_id = application_id
        self._scopes: dict[int | None, dict[int, dict]] = {}
        self.sync_count = 0
        self.synced = asyncio.Event()

    def in_scope(self, scope: int | None) -> list[dict]:
        """The commands of one scope."""
        return list(self._scopes.get(scope, {}).values())

    def all(self) -> list[dict]:
        """Every registered command, global first."""
        return [c for scope in sorted(self._scopes, key=lambda s: s or 0) for c in self._scopes[scope].values()]

    def get(self, scope: int | None, command_id: int) -> dict:
        """One command, or 404 Unknown application command (10063)."""
        try:
            return self._scopes.get(scope, {})[command_id]
        except KeyError:
            raise unknown("application command", 10063) from None

    def overwrite(self, scope: int | None, body: Any) -> list[dict]:
        """Bulk overwrite (what CommandTree.sync does); ids survive for commands kept by name and type."""
        if not isinstance(body, list):
            errors = FormErrors()
            errors.add((), "BASE_TYPE_ARRAY", "Must be an array.")
            errors.raise_if_any()
        errors = FormErrors()
        if len(body) > MAX_COMMANDS:
            errors.add((), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS} or fewer in length.")
        for index, command in enumerate(body):
            check_command(command, errors, (str(index),))
        errors.raise_if_any()
        old = {(c["name"], c["type"]): c for c in self.in_scope(scope)}
        fresh: dict[int, dict] = {}
        for command in body:
            previous = old.get((command["name"], command.get("type", CHAT_INPUT)))
            stored = self._render(scope, command, previous)
            fresh[int(stored["id"])] = stored
        self._scopes[scope] = fresh
        self.sync_count += 1
        self.synced.set()
        return list(fresh.values())

    def upsert(self, scope: int | None, body: Any) -> dict:
        """POST: create, or replace the command with the same name and type."""
        errors = FormErrors()
        check_command(body, errors)
        errors.raise_if_any()
        commands = self._scopes.setdefault(scope, {})
        same = (body["name"], body.get("type", CHAT_INPUT))
        previous = next((c for c in commands.values() if (c["name"], c["type"]) == same), None)
        stored = self._render(scope, body, previous)
        commands[int(stored["id"])] = stored
        return stored

    def edit(self, scope: int | None, command_id: int, body: dict) -> dict:
        """PATCH: change some fields of one command."""
        merged = {**self.get(scope, command_id), **body}
        errors = FormErrors()
        check_command(merged, errors)
        errors.raise_if_any()
        stored = self._render(scope, merged, self.get(scope, command_id))
        self._scopes[scope][command_id] = stored
        return stored

    def delete(self, scope: int | None, command_id: int) -> None:
        """DELETE one command."""
        self.get(scope, command_id)
        del self._scopes[scope][command_id]

    def find(self, name: str, guild_id: int | None) -> dict | None:
        """The chat-input command a user would pick: the guild's one before the global one."""
        for scope in (guild_id, None):
            for command in self.in_scope(scope):
                if command["name"] == name and command["type"] == CHAT_INPUT:
                    return command
        return None

    def _render(self, scope: int | None, body: dict, previous: dict | None) -> dict:
        command = {
            "id": previous["id"] if previous else str(self._ids.next()),
            "application_id": str(self._application_id),
            "version": str(self._ids.next()),
            "type": body.get("type", CHAT_INPUT),
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            # Discord accepts the permission bits as a number or a string and always answers with a string.
            "default_member_permissions": _bits(body.get("default_member_permissions")),
            "nsfw": bool(body.get("nsfw", False)),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "options": body.get("options") or [],
        }
        if scope is not None:
            command["guild_id"] = str(scope)
        else:
            command["dm_permission"] = body.get("dm_permission", True)
        return command
