"""REST routes for channel messages: send (JSON or multipart), history, fetch, edit, delete."""

from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakediscord.bodies import SETTABLE_FLAGS
from tests.fakediscord.errors import DiscordError, FormErrors, json_response, unknown
from tests.fakediscord.messages import Message
from tests.fakediscord.rest import no_content
from tests.fakediscord.routes_meta import _snowflake
from tests.fakediscord.state import ATTACHMENT_SIZE_LIMIT, MANAGE_MESSAGES
from tests.fakediscord.validation import check_file_sizes, check_message_body

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord

MESSAGE_ROUTE = "/channels/{channel_id}/messages/{message_id}"


class MessageRoutes:
    """Handlers for /channels/{channel_id}/messages..."""

    def __init__(self, fake: "FakeDiscord") -> None:
        self.fake = fake

    def table(self) -> list[tuple[str, str, object]]:
        """(method, path, handler) rows."""
        return [
            ("GET", "/channels/{channel_id}/messages", self.history),
            ("POST", "/channels/{channel_id}/messages", self.create),
            ("GET", MESSAGE_ROUTE, self.get),
            ("PATCH", MESSAGE_ROUTE, self.edit),
            ("DELETE", MESSAGE_ROUTE, self.delete),
            ("PUT", MESSAGE_ROUTE + "/reactions/{emoji_name}/@me", self.react),
        ]

    async def create(self, request: web.Request) -> web.Response:
        """Send a message; a repeated nonce with enforce_nonce returns the earlier message."""
        channel = self.fake.channel_or_404(request)
        body = self.fake.read_message_body(request)
        check_message_body(body.json, creating=True, file_count=len(body.files))
        check_file_sizes([(f.filename, f.content_type, f.data) for f in body.files], ATTACHMENT_SIZE_LIMIT)
        fields = body.json
        bot = self.fake.world.bot
        nonce = fields.get("nonce")
        if nonce is not None and fields.get("enforce_nonce"):
            earlier = self.fake.store.recent_nonce(channel.id, bot.id, str(nonce))
            if earlier is not None:
                return json_response(earlier.payload())
        flags = int(fields.get("flags") or 0) & SETTABLE_FLAGS & ~(1 << 6)
        message = self.fake.messenger.build(channel.id, bot.payload(), fields, body.files, flags=flags)
        await self.fake.messenger.publish(message)
        if nonce is not None:
            self.fake.store.remember_nonce(channel.id, bot.id, str(nonce), message.id)
        return json_response(message.payload())

    async def history(self, request: web.Request) -> web.Response:
        """Channel history, newest first (limit 1-100, default 50)."""
        channel = self.fake.channel_or_404(request)
        query = request.query
        limit = int(query.get("limit", 50))
        if not 1 <= limit <= 100:
            errors = FormErrors()
            errors.add(("limit",), "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN", "Must be between 1 and 100.")
            errors.raise_if_any()
        around, before, after = (int(query[k]) if k in query else None for k in ("around", "before", "after"))
        messages = self.fake.store.history(channel.id, limit, before, after, around)
        return json_response([m.payload() for m in messages])

    def _message(self, request: web.Request) -> Message:
        channel = self.fake.channel_or_404(request)
        message = self.fake.store.get(_snowflake(request, "message_id"))
        if message is None or message.channel_id != channel.id or message.ephemeral:
            raise unknown("Message", 10008)
        return message

    async def get(self, request: web.Request) -> web.Response:
        """One message."""
        return json_response(self._message(request).payload())

    async def edit(self, request: web.Request) -> web.Response:
        """Edit the bot's own message; an opt-in edit limit may answer 429."""
        message = self._message(request)
        body = self.fake.read_message_body(request)
        if message.author["id"] != str(self.fake.world.bot.id) and set(body.json) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        check_message_body(body.json, creating=False)
        check_file_sizes([(f.filename, f.content_type, f.data) for f in body.files], ATTACHMENT_SIZE_LIMIT)
        template = MESSAGE_ROUTE
        retry_after = self.fake.edit_limiter.retry_after(message.channel_id)
        if retry_after:
            return self.fake.edit_limiter.too_many(message.channel_id, template, retry_after)
        headers = self.fake.edit_limiter.record(message.channel_id, template)
        await self.fake.messenger.edit(message, body.json, body.files)
        return json_response(message.payload(), headers=headers)

    async def delete(self, request: web.Request) -> web.Response:
        """Delete: the bot's own messages, or anyone's with Manage Messages."""
        message = self._message(request)
        world = self.fake.world
        if message.author["id"] != str(world.bot.id) and not world.permissions(world.bot.id) & MANAGE_MESSAGES:
            raise DiscordError(403, 50013, "Missing Permissions")
        await self.fake.messenger.delete(message)
        return no_content()

    async def react(self, request: web.Request) -> web.Response:
        """Add the bot's reaction; the fake records it on the message."""
        message = self._message(request)
        message.reactions.append(request.match_info["emoji_name"])
        return no_content()

    async def attachment(self, request: web.Request) -> web.Response:
        """The bytes of an uploaded file, as the CDN would serve them (no auth, outside /api)."""
        self.fake.downloads.append(request.path)  # tests check what the bot fetched, and when
        attachment = self.fake.messenger.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or attachment.filename != request.match_info["filename"]:
            raise web.HTTPNotFound()
        return web.Response(body=attachment.data, content_type=attachment.content_type)
