"""REST routes that answer interactions: the callback, and the webhook for follow-ups and edits."""

import time
from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakediscord.bodies import SETTABLE_FLAGS
from tests.fakediscord.errors import DiscordError, invalid_form, json_response, unknown
from tests.fakediscord.interactions import (
    APPLICATION_COMMAND, CALLBACK_DEADLINE_S, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE,
    MESSAGE_COMPONENT, MODAL, MODAL_SUBMIT, TOKEN_LIFETIME_S, UPDATE_MESSAGE, Callback, InteractionRecord,
)
from tests.fakediscord.messages import EPHEMERAL, LOADING, Message
from tests.fakediscord.rest import no_content
from tests.fakediscord.routes_meta import _snowflake
from tests.fakediscord.validation import check_file_sizes, check_message_body, check_modal

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord

WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
# Message types: CHAT_INPUT_COMMAND for slash replies, DEFAULT otherwise.
CHAT_INPUT_COMMAND, DEFAULT = 20, 0


class InteractionRoutes:
    """Handlers for /interactions/{id}/{token}/callback and /webhooks/{application}/{token}..."""

    def __init__(self, fake: "FakeDiscord") -> None:
        self.fake = fake

    def table(self) -> list[tuple[str, str, object]]:
        """(method, path, handler) rows; @original is its own route, as in the OpenAPI spec."""
        return [
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback),
            ("POST", WEBHOOK, self.followup),
            ("GET", WEBHOOK + "/messages/@original", self.get_message),
            ("PATCH", WEBHOOK + "/messages/@original", self.edit_message),
            ("DELETE", WEBHOOK + "/messages/@original", self.delete_message),
            ("GET", WEBHOOK + "/messages/{message_id}", self.get_message),
            ("PATCH", WEBHOOK + "/messages/{message_id}", self.edit_message),
            ("DELETE", WEBHOOK + "/messages/{message_id}", self.delete_message),
        ]

    async def callback(self, request: web.Request) -> web.Response:
        """Acknowledge an interaction within 3 s, once; answer with an InteractionCallbackResponse."""
        record = self.fake.interactions.get(_snowflake(request, "interaction_id"))
        if record is None or record.token != request.match_info["interaction_token"]:
            raise unknown("interaction", 10062)
        if self.fake.clock.now() - record.created_at > CALLBACK_DEADLINE_S:
            raise unknown("interaction", 10062)
        if record.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        body = self.fake.read_message_body(request)
        kind = body.json.get("type")
        data = body.json.get("data") or {}
        # Marked before any await, so a concurrent second callback is refused too.
        record.acknowledged = True
        try:
            message = await self._respond(record, kind, data, body.files)
        except DiscordError:
            record.acknowledged = False
            raise
        files = [(f.filename, f.content_type, f.data) for f in body.files]
        record.responded(Callback(kind, data, files, time.monotonic() - record.dispatched_at))
        return json_response(self._callback_response(record, kind, message))

    async def _respond(self, record: InteractionRecord, kind: int, data: dict, files: list) -> Message | None:
        messenger = self.fake.messenger
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            if kind == CHANNEL_MESSAGE:
                check_message_body(data, creating=True, file_count=len(files))
            check_file_sizes([(f.filename, f.content_type, f.data) for f in files], self.fake.world.attachment_size_limit)
            flags = int(data.get("flags") or 0) & SETTABLE_FLAGS
            if kind == DEFERRED_CHANNEL_MESSAGE:
                # A deferred reply is a "thinking" placeholder until the bot edits it.
                data, flags = {}, (flags & EPHEMERAL) | LOADING
            message = self._build(record, data, files, flags)
            record.original_id = message.id
            return await messenger.publish(message)
        if kind in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            if record.type not in (MESSAGE_COMPONENT, MODAL_SUBMIT) or record.message_id is None:
                raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Only a click or a modal can update a message.")
            record.original_id = record.message_id
            message = self.fake.store.get(record.message_id)
            if kind == UPDATE_MESSAGE and message is not None:
                check_message_body(data, creating=False)
                await messenger.edit(message, data, files)
            return message
        if kind == MODAL:
            if record.type == MODAL_SUBMIT:
                raise invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID", "A modal cannot open another modal.")
            check_modal(data)
            return None
        raise invalid_form("type", "BASE_TYPE_CHOICES", f"Value must be one of (4, 5, 6, 7, 9); got {kind!r}.")

    def _build(self, record: InteractionRecord, data: dict, files: list, flags: int) -> Message:
        world = self.fake.world
        kind = CHAT_INPUT_COMMAND if record.type == APPLICATION_COMMAND else DEFAULT
        return self.fake.messenger.build(
            record.channel_id, world.bot.payload(), data, files, flags=flags, type=kind,
            webhook_id=world.application_id, application_id=world.application_id,
            interaction_metadata=self._metadata(record),
        )

    def _metadata(self, record: InteractionRecord) -> dict:
        """The message's interaction_metadata; a modal's names the interaction that opened it."""
        metadata = {"id": str(record.id), "type": record.type, "user": self.fake.world.users[record.user_id].payload(),
                    "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {})}
        if record.type == MESSAGE_COMPONENT and record.message_id:
            metadata["interacted_message_id"] = str(record.message_id)
        if record.original_id:
            metadata["original_response_message_id"] = str(record.original_id)
        if record.type == MODAL_SUBMIT and record.opened_by is not None:
            metadata["triggering_interaction_metadata"] = self._metadata(record.opened_by)
        return metadata

    def _callback_response(self, record: InteractionRecord, kind: int, message: Message | None) -> dict:
        interaction = {"id": str(record.id), "type": record.type}
        if message is not None and kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            interaction.update({
                "response_message_id": str(message.id), "response_message_loading": bool(message.flags & LOADING),
                "response_message_ephemeral": message.ephemeral,
            })
        response: dict = {"interaction": interaction}
        if message is not None and kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            response["resource"] = {"type": kind, "message": message.payload()}
        return response

    def _record(self, request: web.Request) -> InteractionRecord:
        """The interaction behind a webhook token; tokens die 15 minutes after the interaction."""
        if _snowflake(request, "webhook_id") != self.fake.world.application_id:
            raise unknown("Webhook", 10015)
        record = self.fake.interactions_by_token.get(request.match_info["webhook_token"])
        if record is None:
            raise unknown("Webhook", 10015)
        if self.fake.clock.now() - record.created_at > TOKEN_LIFETIME_S:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if record.callback is None:
            raise unknown("Webhook", 10015)
        return record

    def _target(self, request: web.Request) -> tuple[InteractionRecord, Message]:
        record = self._record(request)
        raw = request.match_info.get("message_id", "@original")
        message_id = record.original_id if raw == "@original" else _snowflake(request, "message_id")
        if message_id is None or (message_id != record.original_id and message_id not in record.followup_ids):
            raise unknown("Message", 10008)
        message = self.fake.store.get(message_id)
        if message is None:
            raise unknown("Message", 10008)
        return record, message

    async def followup(self, request: web.Request) -> web.Response:
        """A follow-up message; the first one after a deferred reply replaces the thinking message."""
        record = self._record(request)
        body = self.fake.read_message_body(request)
        check_message_body(body.json, creating=True, file_count=len(body.files))
        check_file_sizes([(f.filename, f.content_type, f.data) for f in body.files], self.fake.world.attachment_size_limit)
        original = record.original
        if original is not None and original.flags & LOADING:
            message = await self.fake.messenger.edit(original, body.json, body.files)
        else:
            flags = int(body.json.get("flags") or 0) & SETTABLE_FLAGS
            message = await self.fake.messenger.publish(self._build(record, body.json, body.files, flags))
            record.followup_ids.append(message.id)
        if request.query.get("wait", "false").lower() in ("1", "true"):
            return json_response(message.payload())
        return no_content()

    async def get_message(self, request: web.Request) -> web.Response:
        """The original response or a follow-up."""
        _, message = self._target(request)
        return json_response(message.payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        """Edit the original response or a follow-up (the edit limit applies per channel)."""
        _, message = self._target(request)
        body = self.fake.read_message_body(request)
        check_message_body(body.json, creating=False)
        check_file_sizes([(f.filename, f.content_type, f.data) for f in body.files], self.fake.world.attachment_size_limit)
        template = WEBHOOK + "/messages/{message_id}"
        retry_after = self.fake.edit_limiter.retry_after(message.channel_id)
        if retry_after:
            return self.fake.edit_limiter.too_many(message.channel_id, template, retry_after)
        headers = self.fake.edit_limiter.record(message.channel_id, template)
        await self.fake.messenger.edit(message, body.json, body.files)
        return json_response(message.payload(), headers=headers)

    async def delete_message(self, request: web.Request) -> web.Response:
        """Delete the original response or a follow-up."""
        _, message = self._target(request)
        await self.fake.messenger.delete(message)
        return no_content()
