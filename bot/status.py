"""Status messages: one per waiting or running job in its channel, from "#3 in line" to percent and preview.

Every write (create or edit) comes out of one budget per channel (bot/channel_budget.py), so however many jobs
share a channel, the bot stays inside Discord's edit limit there; jobs whose message is the most out of date go
first. A message is written only when its text changes: a position or ETA, or a step of progress.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.buttons import status_view
from bot.channel_budget import ChannelBudget
from bot.mentions import NO_MENTIONS
from bot.nsfw_policy import Display, spoiler_name
from bot.storage import ImageStore
from db.queue import JobView, Queue

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

SHOWN_WAITING = 50  # the first jobs in line get a status message; later ones get theirs as the line moves


def eta_text(seconds: float | None) -> str:
    """`about 40 s`, `about 3 min`: coarse, so the message isn't rewritten for every second of drift."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f", about {max(10, math.ceil(seconds / 10) * 10)} s"
    return f", about {math.ceil(seconds / 60)} min"


def waiting_text(position: int, eta_seconds: float | None) -> str:
    """`- waiting: #3 in line, about 2 min`."""
    return f"- waiting: #{position} in line{eta_text(eta_seconds)}"


def progress_text(job: JobView) -> str:
    """`- generating… 40% (8/20 steps)`."""
    if not job.progress_total:
        return "- starting…"
    percent = round(100 * (job.progress_step or 0) / job.progress_total)
    return f"- generating… {percent}% ({job.progress_step}/{job.progress_total} steps)"


class StatusBoard:
    """Keeps each waiting or running job's status message current, inside each channel's write budget."""

    def __init__(self, bot: ImagineBot, queue: Queue, store: ImageStore, headline: Callable[[JobView], str], *,
                 budget: ChannelBudget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot, self.queue, self.store, self.headline = bot, queue, store, headline
        self.budget = budget or ChannelBudget(clock=clock)
        self._clock = clock
        self._shown: dict[int, str] = {}  # job id -> the text its message shows
        self._written_at: dict[int, float] = {}

    def forget(self, job_id: int) -> None:
        """The job's status message is gone (its result or notice replaced it)."""
        self._shown.pop(job_id, None)
        self._written_at.pop(job_id, None)

    async def update(self) -> None:
        """One round: write what changed, the most out-of-date messages first, as each channel's budget allows."""
        running = await self.queue.running()
        waiting = await self.queue.waiting(limit=SHOWN_WAITING)
        wanted = [(job, f"{self.headline(job)} {progress_text(job)}") for job in running]
        wanted += [(w.job, f"{self.headline(w.job)} {waiting_text(w.position, w.eta_seconds)}") for w in waiting]
        live = {job.id for job, _ in wanted}
        for job_id in [j for j in self._shown if j not in live]:
            self.forget(job_id)
        wanted.sort(key=lambda item: self._written_at.get(item[0].id, -math.inf))
        for job, text in wanted:
            if job.channel_id is None or (self._shown.get(job.id) == text and job.status_message_id):
                continue
            if not self.budget.spend(job.channel_id):
                continue  # this channel's budget is spent; the next round comes back to it
            await self._write(job, text)

    async def _write(self, job: JobView, text: str) -> None:
        files = []
        # Previews are not scored: where flagged results would be hidden (bot/holds.py), previews are too.
        shown = await self.bot.holds.preview_display(self.bot.get_channel(job.channel_id or 0))
        if job.status == "running" and shown is not Display.hold:
            try:  # one read (S3: one GET) per status write, and those are budgeted per channel
                data = await asyncio.to_thread(self.store.preview_bytes, job.id)
            except OSError as exc:  # a flaky object store: the message goes out without its preview
                log.warning("preview of job %s: %s", job.id, exc)
                data = None
            if data is not None:
                name = spoiler_name("preview.jpg") if shown is Display.spoiler else "preview.jpg"
                files = [discord.File(io.BytesIO(data), filename=name)]
        try:
            channel = self.bot.get_partial_messageable(job.channel_id or 0)
            if job.status_message_id is None:
                message = await channel.send(text, files=files, view=status_view(job.id),
                                             allowed_mentions=NO_MENTIONS)
                await self.queue.set_status_message(job.id, message.id)
                fresh = await self.queue.get(job.id)
                if fresh is None or (fresh.status not in ("queued", "running") and fresh.delivered_at):
                    await message.delete()  # the job ended while this was being posted: nothing will replace it
            else:
                await channel.get_partial_message(job.status_message_id).edit(content=text, attachments=files)
        except (discord.HTTPException, OSError, aiohttp.ClientError) as exc:  # the next change tries again
            log.warning("status message of job %s: %s", job.id, exc)
        self._shown[job.id] = text
        self._written_at[job.id] = self._clock()
