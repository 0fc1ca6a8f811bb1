"""The command tree: renders every command error for the member in one place."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.appeals import refusal_view
from bot.errors import render
from bot.moderators import refuse_if_banned


class ImagineTree(app_commands.CommandTree):
    """A command tree that refuses banned members and renders every error for the member in one place."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Every command of a banned member is refused (with a private message saying so) before it runs."""
        return await refuse_if_banned(interaction)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Show the member what went wrong, privately; unexpected errors are logged by render()."""
        original = getattr(error, "original", error)
        text = render(original)
        extra = {"view": view} if (view := refusal_view(original, interaction.client)) is not None else {}
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, **extra)
        else:
            await interaction.response.send_message(text, ephemeral=True, **extra)
