"""How one finished job reaches its member: the channel post, the search for an earlier post, and the private ways
(an ephemeral follow-up while the interaction lives, else a DM) when the channel refuses it.

Delivery (bot/delivery.py) decides when to try and what to do after a failure; this module only posts.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.buttons import grid_view, single_view
from bot.config_tables import ProfileSettings
from bot.mentions import only_user
from bot.nsfw_policy import Display, spoiler_name
from bot.policy import ChannelFacts, profile_for
from bot.storage import ImageStore
from bot.upload_size import FittedUpload, fit_upload
from db.queue import JobView

if TYPE_CHECKING:
    from bot.client import ImagineBot

HISTORY_SCAN = 200
HELD_NOTE = "The result is held for a moderator's review."
# Discord lets a bot follow up on an interaction for 15 minutes; stop a little before, a request takes time.
TOKEN_LIFETIME = timedelta(minutes=14)


def job_label(job: JobView) -> str:
    """`(job #12)` or `(variations of #3, tile 2 - job #12)`; also the marker a re-delivery searches for."""
    what = {"variation": "variations of", "refine": "upscale of", "img2img": "variations of",
            "reroll": "re-roll of", "enhance": "enhancement of", "outpaint": "zoom, pan or square of",
            "inpaint": "region variations of"}.get(job.kind)
    if what and job.parent_job_id:
        tile = f", tile {job.parent_tile}" if job.parent_tile else ""
        return f"({what} #{job.parent_job_id}{tile} - job #{job.id})"
    return f"(job #{job.id})"


def headline(job: JobView) -> str:
    """The first line of every message about a job: prompt, member, job label."""
    prompt = job.prompt if len(job.prompt) <= 1500 else job.prompt[:1500] + "…"
    return f"**{discord.utils.escape_markdown(prompt)}** - <@{job.user_id}> {job_label(job)}"


def outcome_text(job: JobView) -> str:
    """What a member reads when a job ends without images: failed (with the reason) or cancelled."""
    if job.status == "cancelled":
        return f"{headline(job)} was cancelled."
    return f"{headline(job)} failed: {discord.utils.escape_markdown(job.error or 'unknown error')}"


class Interactions:
    """The interactions of the last minutes, by id, so a result can still be sent privately on their token."""

    def __init__(self) -> None:
        self._by_id: dict[int, discord.Interaction] = {}

    def remember(self, interaction: discord.Interaction) -> None:
        """Keep an interaction while its token lives; forget expired ones."""
        cutoff = discord.utils.utcnow() - TOKEN_LIFETIME
        for key in [k for k, i in self._by_id.items() if i.created_at < cutoff]:
            del self._by_id[key]
        self._by_id[interaction.id] = interaction

    def alive(self, interaction_id: int | None) -> discord.Interaction | None:
        """The interaction if its token can still send a follow-up."""
        interaction = self._by_id.get(interaction_id or 0)
        if interaction is None or interaction.created_at < discord.utils.utcnow() - TOKEN_LIFETIME:
            return None
        return interaction


class Poster:
    """Posts one job's message in its channel, or privately to its member."""

    def __init__(self, bot: ImagineBot, store: ImageStore, max_side: int) -> None:
        self.bot, self.store, self.max_side = bot, store, max_side
        self.interactions = Interactions()

    async def channel(self, channel_id: int) -> discord.abc.Messageable:
        """The job's channel, from the cache or from Discord."""
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def already_posted(self, channel: discord.abc.Messageable, job: JobView) -> discord.Message | None:
        """After an interrupted delivery, the message we may already have posted for this job."""
        from bot.holds import held_text  # bot.holds builds on this module
        # Only messages posted after the job finished can be its result; Discord ids encode their time.
        since = job.finished_at or job.created_at
        after = discord.Object(discord.utils.time_snowflake(since - timedelta(seconds=5)))
        async for message in channel.history(limit=HISTORY_SCAN, after=after):
            if message.author.id != self.bot.user.id or message.id == job.status_message_id:
                continue
            ids = [c.custom_id for row in message.components for c in getattr(row, "children", [])
                   if getattr(c, "custom_id", None)]
            if any(cid.startswith(f"imagine:i:{job.id}:") for cid in ids):
                return message  # a result: its Info button carries the job id (a status message has only Cancel)
            if not ids and message.content in (outcome_text(job), held_text(job)):
                return message  # a failure or cancellation notice, or a held result's placeholder
        return None

    def _view(self, job: JobView, path: Path) -> discord.ui.View:
        if path.name == "grid.png":
            return grid_view(job.id, enhance=self._is_fast(job))
        width, height = job.params.get("width", 0), job.params.get("height", 0)
        return single_view(job.id, can_upscale=max(width, height) * 2 <= self.max_side, square=width == height)

    def _is_fast(self, job: JobView) -> bool:
        """Whether a configured fast model made this job (its grid then gets Enhance buttons)."""
        from bot.fast_jobs import fast_model_of
        from generation.requests import GenerationRequest

        try:
            return fast_model_of(self.bot.config, GenerationRequest.from_dict(job.params)) is not None
        except ValueError:
            return False

    async def _fitted(self, job: JobView, limit: int) -> tuple[Path, FittedUpload]:
        # This host's view of the shared data folder, or a copy fetched from the bucket (bot/storage.py).
        path = await asyncio.to_thread(self.store.result_file, job.id)
        return path, await asyncio.to_thread(fit_upload, path, limit)

    @staticmethod
    def _text(job: JobView, fitted: FittedUpload | None, note: str = "") -> str:
        lines = [headline(job) if job.status == "succeeded" else outcome_text(job)]
        lines += [f"-# {line}" for line in (fitted.note if fitted else "", note) if line]
        return "\n".join(lines)

    async def post(self, channel: discord.abc.Messageable, job: JobView, *, content: str | None = None,
                   mentions: discord.AllowedMentions | None = None) -> discord.Message:
        """The result (or failure notice) in a channel, fitted to the guild's upload limit; pings the owner only
        (or `mentions`); `content` replaces the headline (as /show does)."""
        mentions = mentions or only_user(job.user_id)
        if job.status != "succeeded":
            return await channel.send(content or outcome_text(job), allowed_mentions=mentions)
        guild = getattr(channel, "guild", None)
        limit = guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        path, fitted = await self._fitted(job, limit)
        shown = await self.bot.holds.display_for(job, channel)  # the one NSFW decision (bot/holds.py)
        if shown is Display.hold:
            return await self.bot.holds.post_held(channel, job, fitted.data, fitted.filename)
        text = self._text(job, fitted) if content is None else "\n".join(
            [content] + ([f"-# {fitted.note}"] if fitted.note else []))
        if tip := profile_tip(self.bot.config.profiles, channel):  # the channel profile's line under results
            text += f"\n-# {tip}"
        filename = spoiler_name(fitted.filename) if shown is Display.spoiler else fitted.filename
        return await channel.send(text, file=discord.File(io.BytesIO(fitted.data), filename),
                                  view=self._view(job, path), allowed_mentions=mentions)

    async def _fallback_name(self, job: JobView, filename: str) -> str | None:
        """A fallback's file name under the job's channel policy: as is, SPOILER_, or None when held."""
        channel = self.bot.get_channel(job.channel_id) or discord.Object(job.channel_id)
        shown = await self.bot.holds.display_for(job, channel)
        if shown is Display.hold:
            return None
        return spoiler_name(filename) if shown is Display.spoiler else filename

    async def follow_up(self, job: JobView, why: str) -> discord.Message | None:
        """The result as an ephemeral follow-up on the job's own interaction; None when its token has expired."""
        interaction = self.interactions.alive(job.interaction_id)
        if interaction is None:
            return None
        note = f"I couldn't post this in <#{job.channel_id}> ({why}), so only you can see it here."
        if job.status != "succeeded":
            return await interaction.followup.send(self._text(job, None, note), ephemeral=True, wait=True,
                                                   allowed_mentions=only_user(job.user_id))
        path, fitted = await self._fitted(job, interaction.filesize_limit)
        filename = await self._fallback_name(job, fitted.filename)
        if filename is None:  # held: the fallback never shows it; the moderators see it when delivery succeeds
            return await interaction.followup.send(self._text(job, None, note + " " + HELD_NOTE), ephemeral=True,
                                                   wait=True, allowed_mentions=only_user(job.user_id))
        return await interaction.followup.send(self._text(job, fitted, note), ephemeral=True, wait=True,
                                               file=discord.File(io.BytesIO(fitted.data), filename),
                                               view=self._view(job, path), allowed_mentions=only_user(job.user_id))

    async def direct_message(self, job: JobView, why: str) -> discord.Message:
        """The result as a DM to its member (without buttons: they act in a server)."""
        user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
        note = f"I couldn't post this in <#{job.channel_id}> ({why}), so I'm sending it to you here."
        if job.status != "succeeded":
            return await user.send(self._text(job, None, note), allowed_mentions=only_user(job.user_id))
        _, fitted = await self._fitted(job, discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES)
        filename = await self._fallback_name(job, fitted.filename)
        if filename is None:  # held: never sent in the clear, not even to its owner
            return await user.send(self._text(job, None, note + " " + HELD_NOTE),
                                   allowed_mentions=only_user(job.user_id))
        return await user.send(self._text(job, fitted, note), file=discord.File(io.BytesIO(fitted.data), filename),
                               allowed_mentions=only_user(job.user_id))


def profile_tip(profiles: Mapping[str, ProfileSettings], channel: object) -> str:
    """The tip of the channel's profile (by channel, category, or DM), empty when it has none."""
    facts = ChannelFacts(id=getattr(channel, "id", 0), category_id=getattr(channel, "category_id", None),
                         is_dm=isinstance(channel, discord.DMChannel))
    return profile_for(profiles, facts).tip
