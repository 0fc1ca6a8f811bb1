"""Which mentions a message may ping. The client allows none; a message that means to ping says whom."""

from __future__ import annotations

import discord

# The client-wide default: a prompt or job text saying @everyone, <@&role> or <@user> pings nobody.
NO_MENTIONS = discord.AllowedMentions.none()


def only_user(user_id: int) -> discord.AllowedMentions:
    """Ping this one member (a job's owner) and nobody else, whatever else the content mentions."""
    return discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)])
