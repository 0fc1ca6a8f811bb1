"""/show: post a past job of this server again, here, with fresh working buttons (for stale or archived ones)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.commands.context import bot_of
from bot.commands.variations import job_id_from
from bot.errors import UnknownJob, UserError
from bot.facts import origin_of
from bot.policy import parent_refusal
from bot.replies import PrivateReply


@app_commands.command(name="show")
@app_commands.describe(job="A job id, or a link to its result message")
@app_commands.guild_only()
async def show(interaction: discord.Interaction, job: app_commands.Range[str, 1, 200]) -> None:
    """Post a past job of this server again in this channel, with working buttons."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        job_id = await job_id_from(bot, job)
        found = await bot.queue.get(job_id)
        if found is None or found.guild_id != interaction.guild_id:
            raise UnknownJob(f"There is no job #{job_id} on this server.")
        allowed = bot.config.discord.channel_ids  # the same channel rule a button click meets
        if allowed and interaction.channel_id not in allowed:
            where = ", ".join(f"<#{channel}>" for channel in allowed)
            raise UserError(f"Images are shown only in {where}.")
        # The visibility rule a button click meets: its own channel, or one where the member sees the job's
        # channel and that is at least as permissive about age restriction. The refusal never names the prompt.
        origin = origin_of(interaction)
        seen = origin.lookup(found.channel_id) if found.channel_id is not None else None
        if (reason := parent_refusal(found.id, found.channel_id, origin.here, seen)) is not None:
            raise UserError(reason)
        if found.status != "succeeded" or not found.result_dir:
            raise UserError(f"Job #{job_id} has no images to show (it is {found.status}).")
        await reply.defer()  # reading and uploading the image may take a moment
        channel = interaction.channel or await bot.fetch_channel(interaction.channel_id or 0)
        posted = await bot.delivery.repost(channel, found, f"(shown again by <@{interaction.user.id}>)")
        await reply.send(f"Posted job #{job_id} again: {posted.jump_url}")
