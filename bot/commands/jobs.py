"""/cancel: stop one of your own jobs."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.commands.context import bot_of
from bot.errors import UnknownJob, UserError
from bot.replies import PrivateReply


@app_commands.command(name="cancel")
@app_commands.describe(job="The id of your job to cancel")
@app_commands.guild_only()
async def cancel(interaction: discord.Interaction, job: int) -> None:
    """Cancel one of your queued or running jobs."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        found = await bot.queue.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            raise UnknownJob(f"There is no job #{job} on this server.")
        if found.user_id != interaction.user.id:
            raise UserError(f"Job #{job} is not yours to cancel.")
        result = await bot.queue.cancel(job, interaction.user.id)
        if result is None or result.status not in ("cancelled", "running"):
            raise UserError(f"Job #{job} has already finished ({found.status}).")
        state = "cancelled" if result.status == "cancelled" else "being stopped"
        await reply.send(f"Job #{job} is {state}.")
