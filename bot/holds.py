"""Flagged results under the channel's NSFW policy: spoilers, or held for a moderator with "Release" / "Delete".

A held result posts a blurred placeholder where it was asked for; the real images go to the moderator log channel
with the two buttons (moderators only). Release posts the result in its channel, with its working buttons, once.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.moderators import member_is_moderator, refuse_if_banned
from bot.nsfw_policy import Display, display, placeholder_png
from bot.posting import headline
from bot.policy import ChannelFacts, profile_for
from db.errors import QueueError
from db.queue import JobView
from db.retention import mark_pruned
from db.safety import SafetyStore

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

RELEASE, DELETE = "release", "delete"


class ModLogUnavailable(OSError):
    """The moderator log channel refused the held result; delivery tries again later (never posts it openly)."""


def channel_facts(channel: object) -> ChannelFacts:
    """What the policy needs of the channel a result goes to: DM or not, category, age restriction."""
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return ChannelFacts(id=channel.id, is_dm=True)
    holder = getattr(channel, "parent", None) if isinstance(channel, discord.Thread) else None
    holder = holder or channel  # a thread takes its category and age restriction from its parent channel
    is_nsfw = getattr(holder, "is_nsfw", None)
    return ChannelFacts(id=getattr(channel, "id", 0), category_id=getattr(holder, "category_id", None),
                        nsfw=bool(is_nsfw()) if callable(is_nsfw) else False)


def held_text(job: JobView) -> str:
    """The note under a held result's placeholder (also what a re-delivery looks for)."""
    return f"{headline(job)}\nThis result is held for a moderator's review."


class Holds:
    """Decides how each result may be shown, and runs the hold, release and delete of flagged ones."""

    def __init__(self, bot: ImagineBot, store: SafetyStore) -> None:
        self.bot, self.store = bot, store

    async def display_for(self, job: JobView, channel: object) -> Display:
        """How this job's images may be shown in this channel (delivery, re-delivery, DMs, /show, Release)."""
        config = self.bot.config
        facts = channel_facts(channel)
        profile = profile_for(config.profiles, facts)
        hold = await self.store.get_hold(job.id)
        return display(job.nsfw_scores, config.safety.threshold, nsfw=profile.nsfw,
                       nsfw_channel_policy=profile.nsfw_channel_policy, age_restricted=facts.nsfw,
                       hold_state=hold.state if hold else None)

    async def preview_display(self, channel: object) -> Display:
        """How a running job's unscored preview may be shown here: as a flagged result would be."""
        config = self.bot.config
        if config.safety.classifier == "off":
            return Display.clear
        facts = channel_facts(channel)
        profile = profile_for(config.profiles, facts)
        return display([1.0], 0.0, nsfw=profile.nsfw, nsfw_channel_policy=profile.nsfw_channel_policy,
                       age_restricted=facts.nsfw)

    async def post_held(self, channel: discord.abc.Messageable, job: JobView, data: bytes,
                        filename: str) -> discord.Message:
        """The real result to the moderators (once, even across re-deliveries), a blurred placeholder here."""
        hold = await self.store.hold(job.id)
        if hold.log_message_id is None:
            view = discord.ui.View(timeout=None)
            view.add_item(HoldButton(RELEASE, job.id))
            view.add_item(HoldButton(DELETE, job.id))
            where = f"<#{job.channel_id}>" if job.guild_id else "a direct message"
            posted = await self.bot.modlog.post(f"**Held for review** (for {where}; NSFW score "
                                                f"{max(job.nsfw_scores or [0]):.2f}): {headline(job)}",
                                                view=view, files=[discord.File(io.BytesIO(data), filename=filename)])
            if posted is None:
                raise ModLogUnavailable(f"the moderator log channel did not take held job #{job.id}")
            await self.store.set_hold_message(job.id, log_message_id=posted.id)
        blurred = await asyncio.to_thread(placeholder_png, data)
        return await channel.send(held_text(job), file=discord.File(io.BytesIO(blurred), filename="held.png"),
                                  allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)]))

    async def release(self, interaction: discord.Interaction, job_id: int) -> None:
        """Post the held result in its channel with its buttons (once), and close the log entry."""
        job = await self._decide(interaction, job_id, "released")
        if job is None:
            return
        await interaction.response.defer()
        channel = self.bot.get_channel(job.channel_id) or await self.bot.fetch_channel(job.channel_id)
        # Released: display_for now says "clear"; the note tells the channel why the result arrives late.
        message = await self.bot.delivery.repost(channel, job, "(released by a moderator)")
        await self.store.set_hold_message(job_id, released_message_id=message.id)
        await self._drop_placeholder(channel, job)
        await interaction.edit_original_response(
            content=f"Released by <@{interaction.user.id}> to <#{job.channel_id}>: job #{job_id}.", view=None,
            allowed_mentions=discord.AllowedMentions.none())

    async def delete(self, interaction: discord.Interaction, job_id: int) -> None:
        """Keep the result from its channel for good: the log entry loses its images, the placeholder says so."""
        if await self._decide(interaction, job_id, "deleted") is None:
            return
        await interaction.response.edit_message(content=f"Deleted by <@{interaction.user.id}>: job #{job_id}.",
                                                attachments=[], view=None,
                                                allowed_mentions=discord.AllowedMentions.none())
        # A moderator judged these images unfit: their files go too (the row stays, marked pruned, so /show, /info
        # and old buttons say the images were deleted). The pruner would otherwise keep them for data.keep_days.
        try:
            freed = await asyncio.to_thread(self.bot.storage.delete_job, job_id)
            await mark_pruned(self.bot.queue.engine, [job_id], self.bot.queue.now())
        except (OSError, QueueError):  # the bucket or the database: the answer stands, the pruner deletes later
            log.exception("the images of deleted held job %s could not be removed; the pruner will", job_id)
        else:
            log.info("deleted the images of held job %s (%d bytes)", job_id, freed, extra={"job_id": job_id})

    async def _decide(self, interaction: discord.Interaction, job_id: int, decision: str) -> JobView | None:
        """Record a moderator's answer to a hold once (audited); None, after telling them, when it was answered."""
        job = await self.bot.queue.get(job_id)
        decided = job and await self.store.decide_hold(job_id, interaction.user.id, decision,
                                                       guild_id=job.guild_id, user_id=job.user_id)
        if not decided:
            await interaction.response.send_message("This result was already released or deleted.", ephemeral=True)
            return None
        return job

    async def _drop_placeholder(self, channel: Any, job: JobView) -> None:
        if job.result_message_id:
            try:
                await channel.get_partial_message(job.result_message_id).delete()
            except discord.HTTPException as exc:
                log.warning("could not remove the placeholder of job %s: %s", job.id, exc)


class HoldButton(discord.ui.DynamicItem[discord.ui.Button], template=r"safety:(?P<action>release|delete):(?P<job>[0-9]{1,19})"):
    """"Release" or "Delete" under a held result in the moderator log channel (moderators only)."""

    def __init__(self, action: str, job_id: int) -> None:
        label, style = ("Release", discord.ButtonStyle.success) if action == RELEASE else \
            ("Delete", discord.ButtonStyle.danger)
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"safety:{action}:{job_id}"))
        self.action, self.job_id = action, job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> HoldButton:
        """Rebuild from the custom_id alone."""
        return cls(match["action"], int(match["job"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Moderators only, checked on every click."""
        if not await refuse_if_banned(interaction):
            return False
        if not member_is_moderator(interaction, interaction.client.config.moderation):  # type: ignore[attr-defined]
            await interaction.response.send_message("Only moderators can release or delete held results.",
                                                    ephemeral=True)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Release or delete the held result."""
        holds: Holds = interaction.client.holds  # type: ignore[attr-defined]
        if self.action == RELEASE:
            await holds.release(interaction, self.job_id)
        else:
            await holds.delete(interaction, self.job_id)
