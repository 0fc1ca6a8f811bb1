"""The message limits the real API enforces, reported as Discord reports them."""

from typing import Any

from tests.fakediscord.errors import DiscordError, FormErrors

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_NONCE = 25
MAX_FILES = 10
MAX_MODAL_TITLE = 45
ACTION_ROW, BUTTON = 1, 2
LINK_STYLE, PREMIUM_STYLE = 5, 6
# Components V2 messages (flag 1 << 15) use a different layout that the fake does not check.
IS_COMPONENTS_V2 = 1 << 15


def check_message_body(body: Any, *, creating: bool, file_count: int = 0) -> None:
    """Raise Discord's 400 for an invalid create/edit message body."""
    if not isinstance(body, dict):
        raise DiscordError(400, 50109, "The request body contains invalid JSON.")
    errors = FormErrors()
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(("content",), "BASE_TYPE_STRING", "Must be a string.")
    elif content is not None and len(content) > MAX_CONTENT:
        errors.add(("content",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors.add(("embeds",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    nonce = body.get("nonce")
    if isinstance(nonce, str) and len(nonce) > MAX_NONCE:
        errors.add(("nonce",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE} or fewer in length.")
    if file_count > MAX_FILES or len(body.get("attachments") or []) > MAX_FILES:
        errors.add(("attachments",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.")
    if not int(body.get("flags") or 0) & IS_COMPONENTS_V2:
        check_components(body.get("components") or [], errors)
    errors.raise_if_any()
    has_something = content or embeds or body.get("components") or body.get("sticker_ids") or body.get("poll") or file_count
    if creating and not has_something:
        raise DiscordError(400, 50006, "Cannot send an empty message")


def check_components(rows: list, errors: FormErrors) -> None:
    """At most 5 action rows of at most 5 items; custom ids unique and at most 100 characters."""
    if len(rows) > MAX_ROWS:
        errors.add(("components",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length.")
    seen: set[str] = set()
    for r, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
            errors.add(("components", r, "type"), "UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (1,).")
            continue
        items = row.get("components") or []
        if not items:
            errors.add(("components", r, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        if len(items) > MAX_ROW_ITEMS:
            errors.add(("components", r, "components"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROW_ITEMS} or fewer in length.")
        for i, item in enumerate(items):
            check_item(item, ("components", r, "components", i), seen, errors)


def check_item(item: dict, path: tuple, seen: set[str], errors: FormErrors) -> None:
    """One button or select menu inside an action row."""
    custom_id = item.get("custom_id")
    needs_custom_id = not (item.get("type") == BUTTON and item.get("style") in (LINK_STYLE, PREMIUM_STYLE))
    if needs_custom_id and not custom_id:
        errors.add((*path, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
    elif custom_id is not None:
        if len(custom_id) > MAX_CUSTOM_ID:
            errors.add((*path, "custom_id"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CUSTOM_ID} or fewer in length.")
        if custom_id in seen:
            errors.add((*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
        seen.add(custom_id)
    label = item.get("label")
    if isinstance(label, str) and len(label) > MAX_LABEL:
        errors.add((*path, "label"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_LABEL} or fewer in length.")
    if item.get("type") == BUTTON and item.get("style") == LINK_STYLE and not item.get("url"):
        errors.add((*path, "url"), "BASE_TYPE_REQUIRED", "This field is required")


def check_file_sizes(files: list[tuple[str, str, bytes]], limit: int) -> None:
    """413 Request entity too large (40005) when any upload exceeds the limit."""
    for _, _, data in files:
        if len(data) > limit:
            raise DiscordError(413, 40005, "Request entity too large")


def check_modal(data: dict) -> None:
    """A modal needs a custom_id (at most 100), a title (at most 45) and 1 to 5 components."""
    errors = FormErrors()
    custom_id, title = data.get("custom_id") or "", data.get("title") or ""
    if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        errors.add(("data", "custom_id"), "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_CUSTOM_ID} in length.")
    if not 1 <= len(title) <= MAX_MODAL_TITLE:
        errors.add(("data", "title"), "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_MODAL_TITLE} in length.")
    if not 1 <= len(data.get("components") or []) <= MAX_ROWS:
        errors.add(("data", "components"), "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_ROWS} in length.")
    errors.raise_if_any()
