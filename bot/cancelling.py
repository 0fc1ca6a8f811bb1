"""Cancelling a job from /cancel or the Cancel button: its owner, or a moderator (audited), and its status message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import UnknownJob, UserError
from bot.facts import origin_of
from bot.moderators import member_is_moderator
from bot.policy import parent_refusal
from db.views import JobView

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)


async def cancel_job(bot: ImagineBot, interaction: discord.Interaction[Any], job_id: int) -> str:
    """Cancel a waiting or running job for its owner or a moderator; returns what the member is told."""
    found = await bot.queue.get(job_id)
    if found is None or found.guild_id != interaction.guild_id:
        raise UnknownJob(f"There is no job #{job_id} on this server.")
    if not member_is_moderator(interaction, bot.config.moderation):  # moderators act on any job of the server
        origin = origin_of(interaction)
        seen = origin.lookup(found.channel_id) if found.channel_id is not None else None
        if (refusal := parent_refusal(found.id, found.channel_id, origin.here, seen)) is not None:
            raise UserError(refusal)
    if found.status not in ("queued", "running"):
        raise UserError(f"Job #{job_id} has already finished ({found.status}).")
    if found.user_id == interaction.user.id:
        result = await bot.queue.cancel(job_id, interaction.user.id)
    elif member_is_moderator(interaction, bot.config.moderation):
        outcome = await bot.moderation.cancel_job(found.guild_id or 0, job_id, interaction.user.id,
                                                  reason="Cancel button")
        result = outcome.jobs[0] if outcome.jobs else None
        if outcome.entry is not None:
            await bot.modlog.action(outcome.entry)
    else:
        raise UserError(f"Only the member who asked for job #{job_id} and moderators can cancel it.")
    if result is None or result.status not in ("cancelled", "running"):
        raise UserError(f"Job #{job_id} has already finished.")
    bot.delivery.wakeup.set()  # a moderator's cancel leaves a notice to post; a running job's status to update
    if result.status == "cancelled" and result.delivered_at is not None:
        await _drop_status(bot, result)  # the owner's answer is their notice; the waiting message goes
    return f"Job #{job_id} is {'cancelled' if result.status == 'cancelled' else 'being stopped'}."


async def _drop_status(bot: ImagineBot, job: JobView) -> None:
    """Delete a cancelled job's status message, if it has one (best effort: it may be gone already)."""
    if not job.status_message_id or not job.channel_id:
        return
    try:
        channel = bot.get_partial_messageable(job.channel_id)
        await channel.get_partial_message(job.status_message_id).delete()
    except discord.HTTPException as exc:
        log.warning("job %s: could not delete its status message (%s)", job.id, exc)
