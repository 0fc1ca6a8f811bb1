"""Who is a moderator (checked in code every time: Discord's command permissions are only a hint), and who is banned."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import discord

from bot.config import ModerationSettings
from db.errors import QueueError
from db.moderation import BanView, Moderation

log = logging.getLogger(__name__)

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


def banned_text(ban: BanView) -> str:
    """What a banned member is told, with the ban's end as a Discord timestamp and the moderator's reason."""
    if ban.expires_at is None:
        until = "until a moderator lifts the ban"
    else:
        unix = int(ban.expires_at.timestamp())
        until = f"until <t:{unix}:f> (<t:{unix}:R>)"
    reason = f" Reason: {ban.reason}" if ban.reason else ""
    return f"You are banned from using this bot on this server {until}; nothing was queued.{reason}"


async def refuse_if_banned(interaction: discord.Interaction) -> bool:
    """True when the member may go on; otherwise tell them privately that they are banned and return False.

    Every command and button click passes here before it runs; the admission door checks again inside the enqueue
    transaction, so a ban that lands in between still stops the job. A failed read lets the click through to it.
    """
    if interaction.guild_id is None or interaction.type is discord.InteractionType.autocomplete:
        return True
    moderation: Moderation = interaction.client.moderation  # type: ignore[attr-defined]
    try:
        ban = await moderation.active_ban(interaction.guild_id, interaction.user.id)
    except QueueError as exc:
        log.warning("ban check for %s failed (%s); the enqueue transaction checks again", interaction.user.id, exc)
        return True
    if ban is None:
        return True
    await interaction.response.send_message(banned_text(ban), ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())
    return False
