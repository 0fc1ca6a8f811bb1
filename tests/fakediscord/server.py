"""FakeDiscord: REST v10 and Gateway on 127.0.0.1 for an unmodified discord.py, plus a test API to act as users.

Usage::

    fake = FakeDiscord()
    await fake.start()
    with point_discord_at(fake):          # tests.fakediscord.pointing
        client = MyBot(...)
        async with running(client, fake):  # logs in, connects, waits for READY
            inter = await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
            reply = await inter.wait_response()
    await fake.stop()
"""

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakediscord.bodies import Body, Upload
from tests.fakediscord.clock import FakeClock, Snowflakes
from tests.fakediscord.commands import CommandRegistry
from tests.fakediscord.errors import DiscordError, unknown
from tests.fakediscord.faults import Fault, Faults
from tests.fakediscord.gateway import GUILDS, RECONNECT, Gateway
from tests.fakediscord.interactions import (
    APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL, MODAL_SUBMIT, InteractionRecord, base_payload, command_data,
    find_component, modal_components,
)
from tests.fakediscord.messages import Attachment, Message, MessageStore
from tests.fakediscord.posting import Messenger
from tests.fakediscord.ratelimits import EditLimiter
from tests.fakediscord.rest import API_PREFIX, BODY, RequestRecord, make_middleware
from tests.fakediscord.routes_interactions import InteractionRoutes
from tests.fakediscord.routes_messages import MessageRoutes
from tests.fakediscord.routes_meta import MetaRoutes, _snowflake
from tests.fakediscord.state import VIEW_CHANNEL, Channel, World

AttachmentSpec = tuple[str, bytes, str]


class FakeDiscord:
    """One fake Discord: a bot application, one guild, its channels, members and messages."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.ids = Snowflakes(self.clock)
        self.world = World(self.clock, self.ids)
        self.store = MessageStore(self.clock)
        self.command_registry = CommandRegistry(self.ids, self.world.application_id)
        self.gateway = Gateway(self.world, lambda: self.gateway_url)
        self.messenger = Messenger(self.world, self.store, self.gateway, self.clock, self.ids, self._attachment_url)
        self.edit_limiter = EditLimiter(self.clock)
        self.faults = Faults(self.clock)
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.requests: list[RequestRecord] = []
        self.downloads: list[str] = []  # attachment (CDN) paths the bot fetched
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(middlewares=[make_middleware(self.world.token, self.requests, self.faults)], client_max_size=64 * 1024 * 1024)
        message_routes = MessageRoutes(self)
        for routes in (MetaRoutes(self), message_routes, InteractionRoutes(self)):
            for method, path, handler in routes.table():
                app.router.add_route(method, API_PREFIX + path, handler)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", message_routes.attachment)
        app.router.add_get("/", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def __aenter__(self) -> "FakeDiscord":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Close every gateway connection (1001, going away) and the server."""
        await self.gateway.drop_connections(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- where things are --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What discord.http.Route.BASE must be set to."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """The websocket URL (GET /gateway and READY's resume_gateway_url point here)."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def token(self) -> str:
        """The only bot token the fake accepts."""
        return self.world.token

    @property
    def application_id(self) -> int:
        """The application id, which is also the bot user's id."""
        return self.world.application_id

    @property
    def bot_user_id(self) -> int:
        """The bot user's id."""
        return self.world.bot.id

    @property
    def guild_id(self) -> int:
        """The one guild."""
        return self.world.guild_id

    @property
    def channel_id(self) -> int:
        """The #general text channel."""
        return self.world.channel_id

    @property
    def other_channel_id(self) -> int:
        """The #imagine text channel."""
        return self.world.other_channel_id

    @property
    def users(self) -> list[int]:
        """Member user ids (not the bot): alice owns the guild, bob is a moderator, carol is plain."""
        return list(self.world.user_ids)

    @property
    def moderator_role_id(self) -> int:
        """The Moderator role (Manage Messages, Moderate Members); bob has it."""
        return self.world.moderator_role_id

    async def add_role(self, name: str, permissions: int) -> int:
        """Create a guild role; a connected bot hears GUILD_ROLE_CREATE (Guilds intent), as from Discord."""
        role = self.world.add_role(name, permissions)
        await self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(self.guild_id), "role": role.payload()},
                                    intent=GUILDS)
        return role.id

    async def set_age_restricted(self, channel_id: int, nsfw: bool = True) -> None:
        """Mark a guild channel age-restricted (or not); a connected bot hears CHANNEL_UPDATE, as from Discord."""
        channel = self.world.channels[channel_id]
        channel.nsfw = nsfw
        await self.gateway.dispatch("CHANNEL_UPDATE", channel.payload(), intent=GUILDS)

    def add_member(self, name: str, role_ids: list[int] | tuple[int, ...] = ()) -> int:
        """A new member of the guild with these roles; returns their user id (they appear in `users`)."""
        return self.world.add_member(name, role_ids).user.id

    def set_roles(self, user_id: int, role_ids: list[int] | tuple[int, ...]) -> None:
        """Give a member exactly these roles; later interactions carry them (and their permissions)."""
        self.world.set_roles(user_id, role_ids)

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created on first use)."""
        return self.world.dm_channel(user_id).id

    @property
    def commands(self) -> list[dict]:
        """Every registered application command, as Discord stores it."""
        return self.command_registry.all()

    @property
    def commands_synced(self) -> asyncio.Event:
        """Set once the bot has bulk-overwritten its commands (CommandTree.sync); see also command_registry.sync_count."""
        return self.command_registry.synced

    # -- helpers for the route handlers ------------------------------------------------------

    def channel_or_404(self, request: web.Request) -> Channel:
        """The channel in the path, or 404 Unknown Channel (10003)."""
        channel = self.world.channels.get(_snowflake(request, "channel_id"))
        if channel is None:
            raise unknown("Channel", 10003)
        return channel

    def read_json(self, request: web.Request) -> Any:
        """The JSON body (parsed and logged by the middleware)."""
        return request[BODY].json

    def read_message_body(self, request: web.Request) -> Body:
        """A JSON or multipart message body; the JSON part must be an object."""
        body = request[BODY]
        if body.json is None:
            body.json = {}
        if not isinstance(body.json, dict):
            raise DiscordError(400, 50035, "Invalid Form Body",
                               {"_errors": [{"code": "MODEL_TYPE_CONVERT", "message": "Only dictionaries may be used in a ModelType"}]})
        return body

    def _attachment_url(self, channel_id: int, attachment_id: int, filename: str) -> str:
        return f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{filename}"

    # -- acting as Discord and its users -----------------------------------------------------

    async def wait_until_ready(self, timeout: float = 10.0, *, commands: bool = True) -> None:
        """Wait until a bot has identified (READY sent) and, unless commands=False, has synced commands."""
        async with asyncio.timeout(timeout):
            await self.gateway.identified.wait()
            if commands:
                await self.command_registry.synced.wait()

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (interaction deadlines, token expiry, nonce window, edit limit)."""
        self.clock.advance(seconds)

    def limit_edits(self, limit: int = 5, window_s: float = 5.0) -> None:
        """Turn on a per-channel message-edit rate limit; 429s land in `fake.rate_limit_hits`."""
        self.edit_limiter.enable(limit, window_s)

    def inject_fault(self, method: str, template: str, status: int, *, channel_id: int | None = None,
                     times: int | None = None, for_seconds: float | None = None, retry_after: float = 1.0,
                     code: int | None = None, message: str | None = None,
                     when: Callable[[Body], bool] | None = None) -> Fault:
        """Answer a route (e.g. "POST", "/channels/{channel_id}/messages") with an error, `times` times or for
        `for_seconds` on the fake's clock; 429s carry `retry_after`; `when` picks requests by body. Returns the fault; its `hits` list the answers."""
        until = None if for_seconds is None else self.clock.now() + for_seconds
        return self.faults.add(Fault(method, template, status, channel_id, times, until, retry_after, code, message,
                                     when))

    @property
    def rate_limit_hits(self) -> list[tuple[int, float]]:
        """(channel_id, retry_after) for every 429 the fake sent."""
        return self.edit_limiter.hits

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Drop every gateway connection like a network blip; the bot should RESUME."""
        await self.gateway.drop_connections(code)

    async def invalidate_sessions(self) -> None:
        """Forget every session and drop the connections: a RESUME gets INVALID_SESSION and the bot re-identifies."""
        self.gateway.forget_sessions()
        await self.gateway.drop_connections()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before moving a session."""
        await self.gateway.send_op(RECONNECT)

    def _new_record(self, kind: int, channel_id: int | None, user_id: int | None) -> InteractionRecord:
        if not self.gateway.live_sessions():
            raise RuntimeError("no bot is connected to the fake gateway; start the client and wait_until_ready() first")
        channel_id = channel_id or self.channel_id
        user_id = user_id or self.users[0]
        if user_id not in self.world.users:
            raise LookupError(f"unknown user {user_id}; known users are {self.users}")
        channel = self.world.channels[channel_id]
        if channel.guild_id is not None and not self.world.channel_permissions(user_id, channel_id) & VIEW_CHANNEL:
            raise PermissionError(f"user {user_id} can't see channel {channel_id}, so Discord offers them nothing there")
        record_id, token = self.ids.next(), f"aW50ZXJhY3Rpb24.{secrets.token_urlsafe(48)}"
        payload = base_payload(self.world, record_id, token, kind, channel_id, user_id)
        record = InteractionRecord(record_id, token, kind, payload, channel_id, user_id, self.clock.now(), self.store)
        self.interactions[record_id] = record
        self.interactions_by_token[token] = record
        return record

    async def _dispatch(self, record: InteractionRecord) -> InteractionRecord:
        record.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def invoke_slash(self, name: str, options: dict[str, Any] | None = None, *, user_id: int | None = None,
                           channel_id: int | None = None, attachments: dict[str, AttachmentSpec] | None = None) -> InteractionRecord:
        """Run a registered slash command ("imagine" or "group sub") as a user; ATTACHMENT options take (filename, bytes, content_type)."""
        channel_id = channel_id or self.channel_id
        root = name.split()[0]
        command = self.command_registry.find(root, self.world.channels[channel_id].guild_id)
        if command is None:
            raise LookupError(f"no chat-input command {root!r} is registered; registered: {[c['name'] for c in self.commands]}")
        record = self._new_record(APPLICATION_COMMAND, channel_id, user_id)

        def attach(filename: str, data: bytes, content_type: str) -> Attachment:
            # Slash-command uploads are ephemeral attachments until a message uses them.
            return self.messenger.attach(channel_id, Upload(0, filename, content_type, data), None, ephemeral=True)

        given = dict(options or {}) | dict(attachments or {})
        context = record.payload["context"]
        record.payload["data"] = command_data(self.world, command, name.split()[1:], given, attach, context)
        return await self._dispatch(record)

    async def click(self, message_id: int, custom_id: str, *, user_id: int | None = None,
                    values: list[str] | None = None) -> InteractionRecord:
        """Click a button (or choose `values` in a select menu) on a stored message."""
        message = self.store.get(message_id)
        if message is None:
            raise LookupError(f"message {message_id} does not exist (or was deleted)")
        component = find_component(message, custom_id)
        record = self._new_record(MESSAGE_COMPONENT, message.channel_id, user_id)
        record.message_id = message.id
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        record.payload.update({"data": data, "message": self.messenger.event_payload(message)})
        return await self._dispatch(record)

    async def submit_modal(self, opened_by: InteractionRecord, values: dict[str, Any], *, user_id: int | None = None) -> InteractionRecord:
        """Fill in and submit the modal that `opened_by` answered with (callback type 9)."""
        if opened_by.callback is None or opened_by.callback.type != MODAL:
            raise ValueError(f"interaction {opened_by.id} was not answered with a modal")
        modal = opened_by.callback.data
        record = self._new_record(MODAL_SUBMIT, opened_by.channel_id, user_id or opened_by.user_id)
        record.opened_by = opened_by
        record.payload["data"] = {"custom_id": modal["custom_id"], "components": modal_components(modal, values)}
        origin = self.store.get(opened_by.message_id) if opened_by.message_id else None
        if origin is not None:
            record.message_id = origin.id
            record.payload["message"] = self.messenger.event_payload(origin)
        return await self._dispatch(record)

    async def post_user_message(self, content: str, *, channel_id: int | None = None, user_id: int | None = None) -> Message:
        """A member writes a message; the bot receives MESSAGE_CREATE."""
        channel_id = channel_id or self.channel_id
        author = self.world.users[user_id or self.users[0]].payload()
        message = self.messenger.build(channel_id, author, {"content": content}, [])
        return await self.messenger.publish(message)

    # -- reading what the bot did ------------------------------------------------------------

    def channel_messages(self, channel_id: int | None = None, *, include_ephemeral: bool = False) -> list[Message]:
        """Live messages of a channel in their current state, oldest first."""
        return self.store.in_channel(channel_id or self.channel_id, include_ephemeral)

    def message_count(self, channel_id: int | None = None) -> int:
        """How many live, non-ephemeral messages a channel holds."""
        return len(self.channel_messages(channel_id))

    def message(self, message_id: int) -> Message | None:
        """Any live message by id (ephemeral ones included)."""
        return self.store.get(message_id)

    def mark(self) -> int:
        """A snowflake below every later message id: pass it as wait_for_message(after=...)."""
        return self.ids.next()

    async def wait_for_message(self, channel_id: int | None = None, predicate: Callable[[Message], bool] | None = None,
                               timeout: float = 5.0, *, after: int | None = None,
                               include_ephemeral: bool = False) -> Message:
        """The first live message (current state, oldest first, id > after) matching predicate, waiting for one."""
        def match() -> Message | None:
            for message in self.channel_messages(channel_id, include_ephemeral=include_ephemeral):
                if (after is None or message.id > after) and (predicate is None or predicate(message)):
                    return message
            return None

        try:
            async with asyncio.timeout(timeout), self.messenger.changed:
                while (found := match()) is None:
                    await self.messenger.changed.wait()
        except TimeoutError:
            seen = [(m.id, m.content[:40]) for m in self.channel_messages(channel_id, include_ephemeral=include_ephemeral)]
            raise TimeoutError(f"no matching message within {timeout} s; the channel holds {seen}") from None
        return found
