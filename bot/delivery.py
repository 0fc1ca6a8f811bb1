"""Delivery: post finished jobs to their channel exactly once, and keep a live status message while jobs run.

Results go out as the bot's own channel messages (interaction tokens expire after 15 minutes; queues can be
longer). Posting is idempotent: the result message id is recorded, and a delivery that may have been cut off
between "sent" and "recorded" first looks for its message in the channel before posting again.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.buttons import grid_view, single_view
from bot.mentions import NO_MENTIONS, only_user
from db.errors import QueueError
from db.queue import JobView, Queue

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

# Discord allows about 5 edits per 5 s per channel; one edit per job every 2 s keeps well inside with a few jobs.
EDIT_INTERVAL_S = 2.0
MAX_DELIVERY_ATTEMPTS = 8
HISTORY_SCAN = 200


def job_label(job: JobView) -> str:
    """`(job #12)` or `(variations of #3, tile 2 - job #12)`; also the marker a re-delivery searches for."""
    what = {"variation": "variations of", "refine": "upscale of", "img2img": "variations of",
            "reroll": "re-roll of", "enhance": "enhancement of"}.get(job.kind)
    if what and job.parent_job_id:
        tile = f", tile {job.parent_tile}" if job.parent_tile else ""
        return f"({what} #{job.parent_job_id}{tile} - job #{job.id})"
    return f"(job #{job.id})"


def headline(job: JobView) -> str:
    """The first line of every message about a job: prompt, member, job label."""
    prompt = job.prompt if len(job.prompt) <= 1500 else job.prompt[:1500] + "…"
    return f"**{discord.utils.escape_markdown(prompt)}** - <@{job.user_id}> {job_label(job)}"


class Delivery:
    """Posts results and failures, and edits status messages with progress."""

    def __init__(self, bot: ImagineBot, queue: Queue, outputs_dir: Path, *, poll_seconds: float = 1.0,
                 max_side: int = 2048) -> None:
        self.bot, self.queue, self.outputs_dir = bot, queue, outputs_dir
        self.poll_seconds = poll_seconds
        self.max_side = max_side
        self.wakeup = asyncio.Event()
        self._not_before: dict[int, float] = {}
        self._last_edit: dict[int, tuple[float, int]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver and update progress until stopped; a failure in one round never ends the loop."""
        while not stop.is_set():
            try:
                await self.deliver_pending()
                await self.update_progress()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery round failed; trying again shortly")
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            self.wakeup.clear()

    async def deliver_pending(self) -> int:
        """Deliver every finished, undelivered job whose backoff has passed; returns how many went out."""
        delivered = 0
        for job in await self.queue.undelivered(limit=20):
            if self._not_before.get(job.id, 0.0) > time.monotonic():
                continue
            try:
                delivered += await self.deliver(job)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.error("job %s can't be delivered to channel %s (%s); giving up", job.id, job.channel_id, exc)
                await self.queue.mark_delivered(job.id, None)
            except (discord.HTTPException, OSError) as exc:
                backoff = min(60.0, 2.0 ** job.delivery_attempts) * random.uniform(0.8, 1.2)
                self._not_before[job.id] = time.monotonic() + backoff
                log.warning("delivering job %s failed (%s); retrying in %.0f s", job.id, exc, backoff)
                if job.delivery_attempts + 1 >= MAX_DELIVERY_ATTEMPTS:
                    log.error("job %s: giving up delivery after %d attempts", job.id, MAX_DELIVERY_ATTEMPTS)
                    await self.queue.mark_delivered(job.id, None)
        return delivered

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def _already_posted(self, channel: discord.abc.Messageable, job: JobView) -> discord.Message | None:
        """After an interrupted delivery, find the message we may already have posted for this job."""
        # Only messages posted after the job finished can be its result; Discord ids encode their time.
        since = job.finished_at or job.created_at
        after = discord.Object(discord.utils.time_snowflake(since - timedelta(seconds=5)))
        async for message in channel.history(limit=HISTORY_SCAN, after=after):
            if message.author.id != self.bot.user.id or message.id == job.status_message_id:
                continue
            ids = [c.custom_id for row in message.components for c in getattr(row, "children", [])
                   if getattr(c, "custom_id", None)]
            if ids and any(cid.split(":")[2:3] == [str(job.id)] for cid in ids):
                return message  # a result: its buttons carry the job id
            if not ids and message.content == outcome_text(job):
                return message  # a failure or cancellation notice
        return None

    async def deliver(self, job: JobView) -> int:
        """Post one job's result (or failure) once and record it; returns 1 if a message now exists."""
        attempt = await self.queue.begin_delivery(job.id)
        channel = await self._channel(job.channel_id)
        if attempt > 1 and (existing := await self._already_posted(channel, job)) is not None:
            log.info("job %s was already posted as message %s; recording it", job.id, existing.id)
            await self.queue.mark_delivered(job.id, existing.id)
            await self._drop_status(channel, job)
            return 1
        if job.status == "succeeded":
            message = await self._post_result(channel, job)
        else:
            message = await channel.send(outcome_text(job), allowed_mentions=only_user(job.user_id))
        await self.queue.mark_delivered(job.id, message.id)
        self._not_before.pop(job.id, None)
        await self._drop_status(channel, job)
        if job.status == "succeeded":
            await self._copy_by_dm(job, message)
        return 1

    async def _copy_by_dm(self, job: JobView, posted: discord.Message) -> None:
        """With /settings dm_results on, the owner also gets the image by DM (best effort: DMs may be closed)."""
        try:
            if not (await self.bot.settings.get(job.guild_id, job.user_id)).dm_results or not posted.attachments:
                return
            data = await posted.attachments[0].read()
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            await user.send(f"Your job #{job.id} is done: {posted.jump_url}",
                            file=discord.File(io.BytesIO(data), filename=posted.attachments[0].filename),
                            allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, QueueError) as exc:  # the channel post stands; a DM is a courtesy
            log.warning("job %s: could not send the result by DM to %s (%s)", job.id, job.user_id, exc)

    async def repost(self, channel: discord.abc.Messageable, job: JobView, note: str) -> discord.Message:
        """A finished job's result again (/show), with fresh buttons and a note; it pings nobody."""
        return await self._post_result(channel, job, content=f"{headline(job)} {note}",
                                       mentions=NO_MENTIONS)

    async def _post_result(self, channel: discord.abc.Messageable, job: JobView, *, content: str | None = None,
                           mentions: discord.AllowedMentions | None = None) -> discord.Message:
        folder = self.outputs_dir / str(job.id)  # this host's view of the shared data folder
        grid = folder / "grid.png"
        path = grid if grid.exists() else folder / "tile-1.png"
        data = await asyncio.to_thread(path.read_bytes)
        limit = getattr(getattr(channel, "guild", None), "filesize_limit", discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES)
        filename = path.name
        if len(data) > limit:  # a huge upscale: send a JPEG of it rather than nothing
            data, filename = await asyncio.to_thread(_as_jpeg, path), path.stem + ".jpg"
        if path == grid:
            view = grid_view(job.id, enhance=self._is_fast(job))
        else:
            width, height = job.params.get("width", 0), job.params.get("height", 0)
            view = single_view(job.id, can_upscale=max(width, height) * 2 <= self.max_side)
        return await channel.send(content or headline(job), file=discord.File(io.BytesIO(data), filename=filename),
                                  view=view, allowed_mentions=mentions or only_user(job.user_id))

    def _is_fast(self, job: JobView) -> bool:
        """Whether a configured fast model made this job (its grid then gets Enhance buttons)."""
        from bot.fast_jobs import fast_model_of
        from generation.requests import GenerationRequest

        try:
            return fast_model_of(self.bot.config, GenerationRequest.from_dict(job.params)) is not None
        except ValueError:
            return False

    async def _drop_status(self, channel: discord.abc.Messageable, job: JobView) -> None:
        """The result replaces the live status message."""
        self._last_edit.pop(job.id, None)
        if job.status_message_id:
            try:
                await channel.get_partial_message(job.status_message_id).delete()  # type: ignore[attr-defined]
            except discord.HTTPException:
                pass

    async def update_progress(self) -> None:
        """Create or edit a status message per running job, at most once every EDIT_INTERVAL_S."""
        now = time.monotonic()
        for job in await self.queue.running():
            last = self._last_edit.get(job.id)
            if last and (now - last[0] < EDIT_INTERVAL_S or last[1] == job.progress_step):
                continue
            channel = await self._channel(job.channel_id)
            text = f"{headline(job)} {progress_text(job)}"
            preview_path = self.outputs_dir / str(job.id) / "preview.jpg"
            files = []
            if preview_path.exists():
                data = await asyncio.to_thread(preview_path.read_bytes)
                files = [discord.File(io.BytesIO(data), filename="preview.jpg")]
            try:
                if job.status_message_id is None:
                    message = await channel.send(text, files=files, allowed_mentions=NO_MENTIONS)
                    await self.queue.set_status_message(job.id, message.id)
                else:
                    await channel.get_partial_message(job.status_message_id).edit(  # type: ignore[attr-defined]
                        content=text, attachments=files)
            except discord.HTTPException as exc:
                log.warning("status update for job %s failed: %s", job.id, exc)
            self._last_edit[job.id] = (now, job.progress_step)


def outcome_text(job: JobView) -> str:
    """What a member reads when a job ends without images: failed (with the reason) or cancelled."""
    if job.status == "cancelled":
        return f"{headline(job)} was cancelled."
    return f"{headline(job)} failed: {discord.utils.escape_markdown(job.error or 'unknown error')}"


def progress_text(job: JobView) -> str:
    """`generating... 40% (8/20 steps)`."""
    if not job.progress_total:
        return "- starting…"
    percent = round(100 * job.progress_step / job.progress_total)
    return f"- generating… {percent}% ({job.progress_step}/{job.progress_total} steps)"


def _as_jpeg(path: Path) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
