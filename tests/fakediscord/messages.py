"""Stored messages and attachments, with history queries and nonce de-duplication."""

import io
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime

from tests.fakediscord.clock import FakeClock, iso

# How long a nonce sent with enforce_nonce is remembered ("the past few minutes" in Discord's docs).
NONCE_WINDOW_S = 5 * 60.0

EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass
class Attachment:
    """An uploaded file: its bytes live in the fake and are served back at `url`."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def payload(self) -> dict:
        """The attachment object, with image dimensions when the bytes are an image."""
        data = {
            "id": str(self.id), "filename": self.filename, "size": self.size, "url": self.url,
            "proxy_url": self.url, "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        dimensions = image_size(self.data) if self.content_type.startswith("image/") else None
        if dimensions:
            data["width"], data["height"] = dimensions
        return data


def sniff_content_type(filename: str, declared: str | None) -> str:
    """Discord ignores discord.py's application/octet-stream and guesses from the file name."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an image, or None when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None


@dataclass
class Message:
    """A message as Discord stores it; `payload()` renders the API object."""

    id: int
    channel_id: int
    author: dict
    created_at: datetime
    guild_id: int | None = None
    content: str = ""
    embeds: list = field(default_factory=list)
    components: list = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    nonce: str | int | None = None
    edited_at: datetime | None = None
    deleted: bool = False
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict | None = None
    message_reference: dict | None = None
    reactions: list[str] = field(default_factory=list)
    edit_count: int = 0

    @property
    def ephemeral(self) -> bool:
        """Only the invoking user sees it; it never appears in channel history."""
        return bool(self.flags & EPHEMERAL)

    def payload(self) -> dict:
        """The message object returned by REST."""
        data = {
            "id": str(self.id), "channel_id": str(self.channel_id), "author": self.author, "type": self.type,
            "content": self.content, "mentions": [], "mention_roles": [], "mention_everyone": False,
            "attachments": [a.payload() for a in self.attachments], "embeds": self.embeds,
            "components": self.components, "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None, "flags": self.flags,
            "pinned": False, "tts": False,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        return data


class MessageStore:
    """All messages by id, in creation order, plus the nonces seen recently."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._messages: dict[int, Message] = {}
        self._nonces: dict[tuple[int, str, str], tuple[int, float]] = {}

    def add(self, message: Message) -> Message:
        """Store a new message."""
        self._messages[message.id] = message
        return message

    def get(self, message_id: int) -> Message | None:
        """A live (not deleted) message, or None."""
        message = self._messages.get(message_id)
        return None if message is None or message.deleted else message

    def in_channel(self, channel_id: int, include_ephemeral: bool = False) -> list[Message]:
        """Live messages of a channel, oldest first."""
        return [
            m for m in self._messages.values()
            if m.channel_id == channel_id and not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def history(self, channel_id: int, limit: int, before: int | None, after: int | None, around: int | None) -> list[Message]:
        """GET /channels/{id}/messages semantics: newest first, except that `after` pages forward."""
        messages = self.in_channel(channel_id)
        if around is not None:
            older = [m for m in messages if m.id <= around][-((limit + 1) // 2):]
            newer = [m for m in messages if m.id > around][: limit - len(older)]
            return list(reversed(older + newer))
        if after is not None:
            # Discord returns the messages just after `after`, still newest first.
            return list(reversed([m for m in messages if m.id > after][:limit]))
        if before is not None:
            messages = [m for m in messages if m.id < before]
        return list(reversed(messages[-limit:])) if limit else []

    def remember_nonce(self, channel_id: int, author_id: int, nonce: str, message_id: int) -> None:
        """Note that this author sent this nonce in this channel now."""
        self._nonces[(channel_id, str(author_id), nonce)] = (message_id, self._clock.now())

    def recent_nonce(self, channel_id: int, author_id: int, nonce: str) -> Message | None:
        """The message created with this nonce within the window, if it still exists."""
        seen = self._nonces.get((channel_id, str(author_id), nonce))
        if seen is None or self._clock.now() - seen[1] > NONCE_WINDOW_S:
            return None
        return self.get(seen[0])
