"""Domain errors the bot shows to members, and the one function that renders any error as user text."""

from __future__ import annotations

import logging

from db.errors import QueueBusy, QueueError, QueueFull, StorageFull
from db.limits import Refused
from generation.errors import GenerationError, PromptError, UploadError

log = logging.getLogger(__name__)


class UserError(Exception):
    """Something the member asked for can't be done; the message says what and why, in their words."""


class NotModerator(UserError):
    """A moderator-only action asked for by a member who is not a moderator."""


class Banned(UserError):
    """A banned member asked for something; the message says until when and why."""


class UnknownJob(UserError):
    """A job id or message that doesn't name a job of this server."""


class PromptBlocked(UserError):
    """The prompt breaks one of the server's content rules; `rule` is for moderators, never shown to the member."""

    def __init__(self, rule: str, block_id: int | None = None) -> None:
        super().__init__("Your prompt was blocked by this server's content rules, and nothing was queued.")
        self.rule, self.block_id = rule, block_id


def render(error: BaseException) -> str:
    """Turn any error into the short text a member sees (domain errors verbatim, the rest generically)."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, Refused):
        when = f" It frees up <t:{int(error.frees_at.timestamp())}:R>." if error.frees_at is not None else ""
        return f"{error.reason}{when}"
    if isinstance(error, PromptError):
        return f"Your prompt can't be used: {error}"
    if isinstance(error, UploadError):
        return f"That image can't be used: {error}"
    if isinstance(error, QueueBusy):
        return "The queue is busy right now and nothing was queued; please try again in a few seconds."
    if isinstance(error, QueueFull):
        return f"The queue is full right now, and nothing was queued: {error}. Please try again later."
    if isinstance(error, StorageFull):
        # The driver's text ([SQL: ...], parameters) is for the log, not for members.
        log.error("the database is full; a member's request was refused", exc_info=error)
        return "The bot's storage is full, so nothing was queued; the moderators can see the details in the log."
    if isinstance(error, QueueError):
        log.error("the queue refused a member's request", exc_info=error)
        return "The queue refused the job, and nothing was queued; the moderators can see the details in the log."
    if isinstance(error, GenerationError):
        return str(error)
    log.error("unexpected error shown to a member", exc_info=error)
    return "Something went wrong on our side and nothing was queued; the moderators can see the details in the log."
