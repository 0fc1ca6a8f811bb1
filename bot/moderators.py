"""Who is a moderator: one rule, checked in code every time (Discord's command permissions are only a hint)."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.config import ModerationSettings

# Permission bits (https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5


def is_moderator(permissions: int, role_ids: Iterable[int], moderator_role_ids: Iterable[int]) -> bool:
    """Manage Server (Administrator implies it) or one of the configured moderator roles."""
    if permissions & (MANAGE_GUILD | ADMINISTRATOR):
        return True
    return not set(role_ids).isdisjoint(moderator_role_ids)


def member_is_moderator(interaction: discord.Interaction, settings: ModerationSettings) -> bool:
    """Whether the member behind an interaction is a moderator of its guild (never in DMs)."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        return False
    # interaction.permissions is what Discord computed for this member in this channel, sent with the interaction.
    roles = (role.id for role in member.roles)
    return is_moderator(interaction.permissions.value, roles, settings.moderator_role_ids)
