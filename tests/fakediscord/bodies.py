"""Request bodies: JSON or multipart (payload_json plus files[n]), and how they change messages."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakediscord.errors import DiscordError, FormErrors
from tests.fakediscord.messages import LOADING, Attachment, Message, sniff_content_type

# Flags a bot may set on its own message (SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2).
SUPPRESS_EMBEDS = 1 << 2
IS_COMPONENTS_V2 = 1 << 15
SETTABLE_FLAGS = SUPPRESS_EMBEDS | (1 << 6) | (1 << 12) | IS_COMPONENTS_V2


@dataclass
class Upload:
    """One files[n] part of a multipart request."""

    index: int
    filename: str
    content_type: str
    data: bytes


@dataclass
class Body:
    """A parsed request: the JSON object (or payload_json) and any uploaded files."""

    json: Any = None
    files: list[Upload] = field(default_factory=list)
    multipart: bool = False


async def read_body(request: web.Request) -> Body:
    """Parse JSON or multipart/form-data the way Discord does; invalid JSON is a 400 (50109)."""
    if request.content_type == "multipart/form-data":
        body = Body(multipart=True)
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = part.name or ""
            raw = await part.read()
            if name == "payload_json":
                body.json = _parse_json(bytes(raw))
            elif name.startswith("files[") and name.endswith("]"):
                filename = part.filename or "unknown"
                declared = part.headers.get("Content-Type")
                body.files.append(Upload(int(name[6:-1]), filename, sniff_content_type(filename, declared), bytes(raw)))
        return body
    raw = await request.read()
    return Body(json=_parse_json(raw) if raw else None)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None


MakeAttachment = Callable[[Upload, str | None], Attachment]


def attachments_for(body: dict, files: list[Upload], make: MakeAttachment, kept: list[Attachment]) -> list[Attachment]:
    """Resolve the `attachments` array: {"id": n} refers to files[n] (new) or an attachment id (kept)."""
    by_index = {f.index: f for f in files}
    if "attachments" not in body:
        return kept + [make(f, None) for f in files]
    errors = FormErrors()
    result: list[Attachment] = []
    kept_by_id = {a.id: a for a in kept}
    for position, entry in enumerate(body["attachments"] or []):
        ref = int(entry.get("id", -1))
        if ref in by_index:
            upload = by_index.pop(ref)
            if entry.get("filename"):
                upload = replace(upload, filename=entry["filename"])
            result.append(make(upload, entry.get("description")))
        elif ref in kept_by_id:
            result.append(kept_by_id[ref])
        else:
            errors.add(("attachments", position, "id"), "ATTACHMENT_NOT_FOUND", f"Unknown attachment {ref}")
    errors.raise_if_any()
    # Files uploaded without an attachments entry are still attached, as Discord does.
    return result + [make(f, None) for f in by_index.values()]


def apply_edit(message: Message, body: dict, files: list[Upload], make: MakeAttachment, now: datetime) -> None:
    """PATCH semantics: only the fields present change; the first edit of a deferred reply clears LOADING."""
    was_loading = bool(message.flags & LOADING)
    for key in ("content", "embeds", "components"):
        if key in body:
            setattr(message, key, body[key] if body[key] is not None else ("" if key == "content" else []))
    if "flags" in body and body["flags"] is not None:
        # Only SUPPRESS_EMBEDS can be toggled by an edit; EPHEMERAL is fixed at creation.
        message.flags = (message.flags & ~SUPPRESS_EMBEDS) | (int(body["flags"]) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
    if "attachments" in body or files:
        message.attachments = attachments_for(body, files, make, message.attachments)
    message.flags &= ~LOADING
    if not was_loading:
        message.edited_at = now
    message.edit_count += 1
