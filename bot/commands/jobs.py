"""/cancel: stop one of your own jobs (moderators: anyone's)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.cancelling import cancel_job
from bot.commands.context import bot_of
from bot.replies import PrivateReply


@app_commands.command(name="cancel")
@app_commands.describe(job="The id of your job to cancel")
@app_commands.guild_only()
async def cancel(interaction: discord.Interaction, job: int) -> None:
    """Cancel one of your queued or running jobs."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        await reply.send(await cancel_job(bot, interaction, job))
