"""Which mentions a request lets Discord turn into pings: mass mentions (@everyone, @here, roles) must be off."""

from collections.abc import Iterable
from typing import Any

# Routes whose JSON body (or, for callbacks, its `data`) becomes a message's content.
MESSAGE_ROUTES = {
    ("POST", "/channels/{channel_id}/messages"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
}
CALLBACK_ROUTE = ("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
CALLBACKS_WITH_MESSAGE = (4, 7)  # CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE


def message_body(method: str, template: str | None, body: Any) -> dict | None:
    """The message fields a request sends, or None when it sends no message text."""
    if not isinstance(body, dict):
        return None
    if (method, template) == CALLBACK_ROUTE:
        data = body.get("data")
        return data if body.get("type") in CALLBACKS_WITH_MESSAGE and isinstance(data, dict) else None
    return body if (method, template) in MESSAGE_ROUTES else None


def mass_mention_problem(message: dict) -> str | None:
    """Why Discord could ping @everyone, @here or a role for this message body; None when it can't.

    Without `allowed_mentions` Discord parses every mention in the content (the member's prompt included).
    """
    if not message.get("content"):
        return None
    allowed = message.get("allowed_mentions")
    if not isinstance(allowed, dict):
        return "no allowed_mentions: Discord would ping every @everyone, @here and role in the content"
    parse = allowed.get("parse") or []
    if "everyone" in parse:
        return "allowed_mentions.parse allows everyone (@everyone and @here)"
    if "roles" in parse or allowed.get("roles"):
        return "allowed_mentions allows role mentions"
    return None


def check_mentions(records: Iterable[Any]) -> list[str]:
    """One line per recorded request whose message could ping @everyone, @here or a role."""
    problems = []
    for record in records:
        message = message_body(record.method, record.template, record.json)
        problem = None if message is None else mass_mention_problem(message)
        if problem:
            problems.append(f"{record.method} {record.path}: {problem}; content {message['content'][:60]!r}")
    return problems
