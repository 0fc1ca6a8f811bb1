"""What the bot can tell about an interaction: who asked, from where, and how other channels look to them."""

from __future__ import annotations

import discord

from bot.admission import Origin
from bot.policy import ChannelFacts


def origin_of(interaction: discord.Interaction) -> Origin:
    """Who asked, where: the identity stored with the job, and the channel facts the door judges."""
    roles = tuple(r.id for r in getattr(interaction.user, "roles", ()) or ())
    channel_id = interaction.channel_id or 0
    if interaction.guild_id is None:
        here = ChannelFacts(id=channel_id, is_dm=True)
    else:
        channel = interaction.channel
        here = _facts(channel, None) if channel is not None else ChannelFacts(id=channel_id)
        here = ChannelFacts(id=channel_id, category_id=here.category_id, nsfw=here.nsfw)  # they are here: they see it
    return Origin(interaction_id=interaction.id, user_id=interaction.user.id, guild_id=interaction.guild_id,
                  channel_id=channel_id, role_ids=roles, channel=here,
                  lookup=lambda other: channel_facts(interaction, other))


def channel_facts(interaction: discord.Interaction, channel_id: int) -> ChannelFacts | None:
    """Another channel of the interaction's guild as this member sees it, from the cached guild (guilds intent)."""
    guild = interaction.guild
    if guild is None:
        return None
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        return None
    member = interaction.user if isinstance(interaction.user, discord.Member) else None
    return _facts(channel, member)


def _facts(channel: object, member: discord.Member | None) -> ChannelFacts:
    """Category, age restriction and (with a member) View Channel of a guild channel or thread."""
    parent = getattr(channel, "parent", None) if isinstance(channel, discord.Thread) else None
    holder = parent or channel  # a thread takes its category and NSFW flag from its parent channel
    is_nsfw = getattr(holder, "is_nsfw", None)
    view = True
    if member is not None and hasattr(channel, "permissions_for"):
        view = channel.permissions_for(member).view_channel  # type: ignore[attr-defined]
    return ChannelFacts(id=getattr(channel, "id", 0), category_id=getattr(holder, "category_id", None),
                        nsfw=bool(is_nsfw()) if callable(is_nsfw) else False, member_can_view=view)
