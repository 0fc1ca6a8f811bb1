"""The fake's world: the bot's application, one guild with channels, roles and members."""

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from tests.fakediscord.clock import FakeClock, Snowflakes, iso

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
MODERATE_MEMBERS = 1 << 40
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
    | ADD_REACTIONS | USE_EXTERNAL_EMOJIS | USE_APPLICATION_COMMANDS
)

# The default upload limit of a guild without boosts (10 MiB).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class User:
    """A Discord user; bots have bot=True."""

    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict:
        """The user object."""
        data = {
            "id": str(self.id), "username": self.username, "global_name": self.username.title(),
            "avatar": None, "discriminator": "0", "public_flags": 0, "flags": 0,
            "banner": None, "accent_color": None, "avatar_decoration_data": None,
            "collectibles": None, "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    """A guild role with its permission bits."""

    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False

    def payload(self) -> dict:
        """The role object."""
        return {
            "id": str(self.id), "name": self.name, "description": None, "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False, "icon": None, "unicode_emoji": None, "position": self.position,
            "permissions": str(self.permissions), "managed": self.managed, "mentionable": False, "flags": 0,
        }


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (type 0; the guild id is @everyone) or a member (type 1)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict:
        """The overwrite object (bit sets as strings)."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass
class Channel:
    """A guild text channel (type 0), a DM channel (type 1) or a category (type 4)."""

    id: int
    name: str
    guild_id: int | None
    position: int = 0
    type: int = 0
    recipient: User | None = None
    last_message_id: int | None = None
    parent_id: int | None = None  # the category
    nsfw: bool = False  # age-restricted
    overwrites: list[Overwrite] = field(default_factory=list)

    def payload(self) -> dict:
        """The channel object."""
        last = str(self.last_message_id) if self.last_message_id else None
        if self.type == 1:
            assert self.recipient is not None
            return {"id": str(self.id), "type": 1, "last_message_id": last, "flags": 0,
                    "recipients": [self.recipient.payload()]}
        data = {
            "id": str(self.id), "type": self.type, "guild_id": str(self.guild_id), "name": self.name,
            "position": self.position, "permission_overwrites": [o.payload() for o in self.overwrites],
            "nsfw": self.nsfw, "parent_id": str(self.parent_id) if self.parent_id else None, "flags": 0,
        }
        if self.type == 4:  # a category has no messages
            return data
        return data | {"topic": None, "last_message_id": last, "rate_limit_per_user": 0, "last_pin_timestamp": None}


@dataclass
class Member:
    """A user's membership of the guild."""

    user: User
    role_ids: list[int]
    joined_at: datetime

    def payload(self, with_user: bool = True) -> dict:
        """The guild member object (Discord leaves out `user` inside MESSAGE_CREATE and resolved data)."""
        data = {
            "nick": None, "avatar": None, "banner": None, "roles": [str(r) for r in self.role_ids],
            "joined_at": iso(self.joined_at), "premium_since": None, "deaf": False, "mute": False,
            "pending": False, "flags": 0, "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class World:
    """Everything the fake knows about users, the guild and its channels."""

    clock: FakeClock
    ids: Snowflakes
    token: str = ""
    bot: User = field(init=False)
    users: dict[int, User] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    # What interactions announce as attachment_size_limit, and enforce on their responses and follow-ups.
    attachment_size_limit: int = ATTACHMENT_SIZE_LIMIT

    def __post_init__(self) -> None:
        # Newer applications share one id between the application and its bot user.
        self.bot = User(self.ids.next(), "imagine-bot", bot=True)
        self.application_id = self.bot.id
        self.token = f"{self.bot.id}.fake.{secrets.token_urlsafe(24)}"
        self.guild_id = self.ids.next()
        self.owner_id = 0
        self.roles[self.guild_id] = Role(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)
        self.moderator_role_id = self._add_role("Moderator", EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MODERATE_MEMBERS, 1)
        self.bot_role_id = self._add_role("imagine-bot", EVERYONE_PERMISSIONS | MANAGE_MESSAGES, 2, managed=True)
        self.channel_id = self._add_channel("general", 0)
        self.other_channel_id = self._add_channel("imagine", 1)
        self.users[self.bot.id] = self.bot
        self._add_member(self.bot, [self.bot_role_id])
        for index, name in enumerate(["alice", "bob", "carol"]):
            user = User(self.ids.next(), name)
            self.users[user.id] = user
            # alice owns the guild, bob moderates it, carol is an ordinary member.
            self._add_member(user, [self.moderator_role_id] if index == 1 else [])
        self.user_ids = [u for u in self.users if u != self.bot.id]
        self.owner_id = self.user_ids[0]

    def _add_role(self, name: str, permissions: int, position: int, managed: bool = False) -> int:
        role = Role(self.ids.next(), name, permissions, position, managed)
        self.roles[role.id] = role
        return role.id

    def add_role(self, name: str, permissions: int) -> Role:
        """A new role above the others, with these permission bits."""
        return self.roles[self._add_role(name, permissions, max(r.position for r in self.roles.values()) + 1)]

    def add_member(self, name: str, role_ids: list[int] | tuple[int, ...] = ()) -> Member:
        """A new user who joins the guild with these roles."""
        user = User(self.ids.next(), name)
        self.users[user.id] = user
        self.user_ids.append(user.id)
        self._add_member(user, list(role_ids))
        return self.members[user.id]

    def set_roles(self, user_id: int, role_ids: list[int] | tuple[int, ...]) -> None:
        """Give a member exactly these roles (by id); unknown role ids are refused, as Discord does."""
        unknown_ids = [r for r in role_ids if r not in self.roles or r == self.guild_id]
        if unknown_ids:
            raise LookupError(f"unknown role ids {unknown_ids}; the guild has {sorted(self.roles)}")
        self.members[user_id].role_ids = list(role_ids)

    def add_category(self, name: str, overwrites: list[Overwrite] | tuple[Overwrite, ...] = ()) -> Channel:
        """A new channel category."""
        channel = Channel(self.ids.next(), name, self.guild_id, len(self.channels), type=4,
                          overwrites=list(overwrites))
        self.channels[channel.id] = channel
        return channel

    def add_text_channel(self, name: str, *, category_id: int | None = None, nsfw: bool = False,
                         overwrites: list[Overwrite] | tuple[Overwrite, ...] = ()) -> Channel:
        """A new text channel, optionally in a category, age-restricted, with permission overwrites."""
        channel = Channel(self.ids.next(), name, self.guild_id, len(self.channels), parent_id=category_id,
                          nsfw=nsfw, overwrites=list(overwrites))
        self.channels[channel.id] = channel
        return channel

    def channel_permissions(self, user_id: int, channel_id: int) -> int:
        """A member's permissions in one channel: guild permissions, then @everyone, role and member overwrites."""
        value = self.permissions(user_id)
        channel = self.channels[channel_id]
        if value == ALL_PERMISSIONS or channel.guild_id is None:
            return value
        roles = set(self.members[user_id].role_ids)
        everyone = [o for o in channel.overwrites if o.type == 0 and o.id == self.guild_id]
        for o in everyone:
            value = (value & ~o.deny) | o.allow
        role_allow = role_deny = 0
        for o in channel.overwrites:
            if o.type == 0 and o.id in roles:
                role_allow, role_deny = role_allow | o.allow, role_deny | o.deny
        value = (value & ~role_deny) | role_allow
        for o in channel.overwrites:
            if o.type == 1 and o.id == user_id:
                value = (value & ~o.deny) | o.allow
        return value

    def _add_channel(self, name: str, position: int) -> int:
        channel = Channel(self.ids.next(), name, self.guild_id, position)
        self.channels[channel.id] = channel
        return channel.id

    def _add_member(self, user: User, role_ids: list[int]) -> None:
        self.members[user.id] = Member(user, role_ids, self.clock.utcnow())

    def permissions(self, user_id: int) -> int:
        """A member's guild-wide permissions: the owner has all, others the union of their roles."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members[user_id]
        value = self.roles[self.guild_id].permissions
        for role_id in member.role_ids:
            value |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def dm_channel(self, user_id: int) -> Channel:
        """The DM channel between the bot and a user, created on first use."""
        for channel in self.channels.values():
            if channel.type == 1 and channel.recipient and channel.recipient.id == user_id:
                return channel
        channel = Channel(self.ids.next(), "", None, type=1, recipient=self.users[user_id])
        self.channels[channel.id] = channel
        return channel

    def guild_payload(self) -> dict:
        """The guild object as GET /guilds/{id} returns it."""
        return {
            "id": str(self.guild_id), "name": "Fake Guild", "icon": None, "splash": None,
            "discovery_splash": None, "banner": None, "description": None, "home_header": None,
            "owner_id": str(self.owner_id), "region": "deprecated", "afk_channel_id": None, "afk_timeout": 300,
            "widget_enabled": False, "widget_channel_id": None, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "features": [], "roles": [r.payload() for r in self.roles.values()], "emojis": [], "stickers": [],
            "application_id": None, "system_channel_id": str(self.channel_id), "system_channel_flags": 0,
            "rules_channel_id": None, "public_updates_channel_id": None, "safety_alerts_channel_id": None,
            "max_members": 250000, "max_presences": None, "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50, "vanity_url_code": None, "premium_tier": 0,
            "premium_subscription_count": 0, "preferred_locale": "en-US", "nsfw": False, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "incidents_data": None,
        }

    def guild_create_payload(self, all_members: bool) -> dict:
        """GUILD_CREATE: the guild plus gateway-only fields; without GUILD_MEMBERS only the bot's member is sent."""
        data = self.guild_payload()
        guild_channels = [c.payload() for c in self.channels.values() if c.type != 1]
        members = [m.payload() for uid, m in self.members.items() if all_members or uid == self.bot.id]
        data.update({
            "joined_at": iso(self.members[self.bot.id].joined_at), "large": False, "unavailable": False,
            # member_count equal to len(members) marks the guild as fully chunked for discord.py.
            "member_count": len(self.members), "members": members,
            "channels": guild_channels, "threads": [], "presences": [], "voice_states": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        })
        return data
