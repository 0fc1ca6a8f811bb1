"""Discord-shaped error bodies and the JSON responses discord.py can parse."""

import json
from typing import Any

from aiohttp import web

# discord.py only decodes JSON when the content type is exactly this (no charset suffix).
JSON_CONTENT_TYPE = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response whose Content-Type header is exactly application/json."""
    response = web.Response(body=json.dumps(data).encode(), status=status, headers=headers)
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    return response


class DiscordError(Exception):
    """An API error as Discord reports it: HTTP status, JSON error code and message."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends for this error."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found() -> DiscordError:
    """An unknown route."""
    return DiscordError(404, 0, "404: Not Found")


def unknown(kind: str, code: int) -> DiscordError:
    """An unknown resource, e.g. unknown("Message", 10008)."""
    return DiscordError(404, code, f"Unknown {kind}")


class FormErrors:
    """Collects field errors into Discord's nested Invalid Form Body shape."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        """Record an error at a field path like ("components", 0, "components", 5)."""
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def raise_if_any(self) -> None:
        """Raise 400 Invalid Form Body (50035) when anything was recorded."""
        if self.tree:
            raise DiscordError(400, 50035, "Invalid Form Body", self.tree)


def invalid_form(field: str, code: str, message: str) -> DiscordError:
    """400 Invalid Form Body (50035) with one error on one field."""
    return DiscordError(400, 50035, "Invalid Form Body", {field: {"_errors": [{"code": code, "message": message}]}})
