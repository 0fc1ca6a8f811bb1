"""REST routes about who and where: users, gateway, application, commands, guild and channels."""

from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakediscord.errors import DiscordError, invalid_form, json_response, unknown
from tests.fakediscord.gateway import APPLICATION_FLAGS
from tests.fakediscord.rest import no_content

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord


class MetaRoutes:
    """Handlers that read the world or register commands."""

    def __init__(self, fake: "FakeDiscord") -> None:
        self.fake = fake
        self.world = fake.world

    def table(self) -> list[tuple[str, str, object]]:
        """(method, path, handler) rows; literal paths come before {placeholder} ones."""
        app = "/applications/{application_id}"
        return [
            ("GET", "/users/@me", self.me),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.user),
            ("GET", "/gateway", self.gateway),
            ("GET", "/gateway/bot", self.gateway_bot),
            ("GET", "/applications/@me", self.application),
            ("GET", "/oauth2/applications/@me", self.application),
            ("GET", f"{app}/commands", self.list_commands),
            ("PUT", f"{app}/commands", self.overwrite_commands),
            ("POST", f"{app}/commands", self.upsert_command),
            ("GET", f"{app}/commands/{{command_id}}", self.get_command),
            ("PATCH", f"{app}/commands/{{command_id}}", self.edit_command),
            ("DELETE", f"{app}/commands/{{command_id}}", self.delete_command),
            ("GET", f"{app}/guilds/{{guild_id}}/commands", self.list_commands),
            ("PUT", f"{app}/guilds/{{guild_id}}/commands", self.overwrite_commands),
            ("POST", f"{app}/guilds/{{guild_id}}/commands", self.upsert_command),
            ("GET", f"{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.get_command),
            ("PATCH", f"{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.edit_command),
            ("DELETE", f"{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.delete_command),
            ("GET", "/guilds/{guild_id}", self.guild),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.roles),
            ("GET", "/guilds/{guild_id}/members", self.members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.member),
            ("GET", "/channels/{channel_id}", self.channel),
            ("POST", "/channels/{channel_id}/typing", self.typing),
        ]

    async def me(self, request: web.Request) -> web.Response:
        """The bot user."""
        return json_response(self.world.bot.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})

    async def user(self, request: web.Request) -> web.Response:
        """Any known user."""
        user = self.world.users.get(_snowflake(request, "user_id"))
        if user is None:
            raise unknown("User", 10013)
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        """Open (or reuse) the DM channel with a user."""
        body = self.fake.read_json(request) or {}
        user_id = int(body.get("recipient_id", 0))
        if user_id not in self.world.users:
            raise invalid_form("recipient_id", "USER_NOT_FOUND", "Unknown user")
        return json_response(self.world.dm_channel(user_id).payload())

    async def gateway(self, request: web.Request) -> web.Response:
        """The gateway URL: this fake."""
        return json_response({"url": self.fake.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        """The gateway URL, one shard and a session start limit that is never hit."""
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        return json_response({"url": self.fake.gateway_url, "shards": 1, "session_start_limit": limit})

    async def application(self, request: web.Request) -> web.Response:
        """The application, owned by the guild owner."""
        owner = self.world.users[self.world.owner_id].payload()
        return json_response({
            "id": str(self.world.application_id), "name": "imagine-bot", "icon": None, "description": "",
            "type": None, "bot": self.world.bot.payload(), "rpc_origins": [], "bot_public": True,
            "bot_require_code_grant": False, "integration_types_config": {"0": {}}, "verify_key": "0" * 64,
            "flags": APPLICATION_FLAGS, "flags_new": str(APPLICATION_FLAGS), "tags": [], "owner": owner, "team": None,
            "redirect_uris": [], "interactions_endpoint_url": None, "role_connections_verification_url": None,
            "approximate_guild_count": 1, "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0, "explicit_content_filter": 0, "eligible_oauth2_scopes": [],
        })

    def _scope(self, request: web.Request) -> int | None:
        if _snowflake(request, "application_id") != self.world.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        self._guild(request)
        return _snowflake(request, "guild_id")

    async def list_commands(self, request: web.Request) -> web.Response:
        """GET commands of a scope."""
        return json_response(self.fake.command_registry.in_scope(self._scope(request)))

    async def overwrite_commands(self, request: web.Request) -> web.Response:
        """PUT: bulk overwrite, i.e. CommandTree.sync()."""
        scope = self._scope(request)
        return json_response(self.fake.command_registry.overwrite(scope, self.fake.read_json(request)))

    async def upsert_command(self, request: web.Request) -> web.Response:
        """POST one command (Discord answers 201 when new, 200 when replaced; the fake always 200)."""
        scope = self._scope(request)
        return json_response(self.fake.command_registry.upsert(scope, self.fake.read_json(request)))

    async def get_command(self, request: web.Request) -> web.Response:
        """GET one command."""
        return json_response(self.fake.command_registry.get(self._scope(request), _snowflake(request, "command_id")))

    async def edit_command(self, request: web.Request) -> web.Response:
        """PATCH one command."""
        scope = self._scope(request)
        body = self.fake.read_json(request)
        return json_response(self.fake.command_registry.edit(scope, _snowflake(request, "command_id"), body or {}))

    async def delete_command(self, request: web.Request) -> web.Response:
        """DELETE one command."""
        self.fake.command_registry.delete(self._scope(request), _snowflake(request, "command_id"))
        return no_content()

    def _guild(self, request: web.Request) -> None:
        if _snowflake(request, "guild_id") != self.world.guild_id:
            raise unknown("Guild", 10004)

    async def guild(self, request: web.Request) -> web.Response:
        """GET the guild."""
        self._guild(request)
        return json_response(self.world.guild_payload())

    async def guild_channels(self, request: web.Request) -> web.Response:
        """GET the guild's channels."""
        self._guild(request)
        return json_response([c.payload() for c in self.world.channels.values() if c.guild_id])

    async def roles(self, request: web.Request) -> web.Response:
        """GET the guild's roles."""
        self._guild(request)
        return json_response([r.payload() for r in self.world.roles.values()])

    async def members(self, request: web.Request) -> web.Response:
        """GET members (the whole, small list; `limit` and `after` honoured)."""
        self._guild(request)
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 1))
        members = [m for uid, m in sorted(self.world.members.items()) if uid > after][:limit]
        return json_response([m.payload() for m in members])

    async def member(self, request: web.Request) -> web.Response:
        """GET one member."""
        self._guild(request)
        member = self.world.members.get(_snowflake(request, "user_id"))
        if member is None:
            raise unknown("Member", 10007)
        return json_response(member.payload())

    async def channel(self, request: web.Request) -> web.Response:
        """GET a channel."""
        return json_response(self.fake.channel_or_404(request).payload())

    async def typing(self, request: web.Request) -> web.Response:
        """The typing indicator: accepted and forgotten."""
        self.fake.channel_or_404(request)
        return no_content()


def _snowflake(request: web.Request, name: str) -> int:
    """A snowflake path parameter; anything else is Discord's 400 for a bad snowflake."""
    value = request.match_info[name]
    if not value.isdigit():
        raise invalid_form(name, "NUMBER_TYPE_COERCE", f"Value \"{value}\" is not snowflake.")
    return int(value)
