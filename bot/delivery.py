"""Delivery: post finished jobs to their channel exactly once, and keep a live status message while jobs run.

Results go out as the bot's own channel messages (interaction tokens expire after 15 minutes; queues can be
longer). Posting is idempotent: the result message id is recorded, and a delivery that may have been cut off
between "sent" and "recorded" first looks for its message in the channel before posting again.

Discord's bad minutes: each job is delivered in its own task, so one waiting out a 429 or a 5xx never holds up
the others. 429s wait out `retry_after`; 5xx and connection errors retry with backoff and jitter for up to an
hour (the wait is stored with the job, so queue.undelivered() pages past it). A refusal that another try can't
fix (403, 404, any other 4xx) or an hour of failures sends the result to the member privately instead: an
ephemeral follow-up while the interaction lives, else a DM; the reason is recorded as `delivery_failed`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.mentions import NO_MENTIONS
from bot.posting import Poster, headline, job_label, outcome_text
from bot.status import StatusBoard
from bot.storage import ImageStore
from db.errors import QueueError
from db.queue import JobView, Queue

if TYPE_CHECKING:
    from bot.client import ImagineBot

__all__ = ["Delivery", "headline", "job_label", "outcome_text"]

log = logging.getLogger(__name__)

RETRY_FOR = timedelta(hours=1)
BACKOFF_BASE_S, BACKOFF_MAX_S = 2.0, 300.0
BATCH = 20
DRAIN_S = 10.0


class CannotCheckHistory(Exception):
    """A retry must look for an earlier post first, and the channel's history is closed to the bot."""


def retry_after(error: BaseException, attempt: int, rng: random.Random) -> float | None:
    """Seconds to wait before trying again, or None when another try can't help."""
    if isinstance(error, discord.RateLimited):
        return error.retry_after
    if isinstance(error, discord.HTTPException):
        if error.status == 429:
            header = error.response.headers.get("Retry-After") if error.response is not None else None
            return float(header) if header else BACKOFF_BASE_S
        if error.status < 500:
            return None  # 400, 403, 404, 413...: the same request would be refused again
    elif isinstance(error, FileNotFoundError | CannotCheckHistory) or not isinstance(
            error, OSError | aiohttp.ClientError | TimeoutError | QueueError):
        return None
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1)) * rng.uniform(0.5, 1.0)


def describe(error: BaseException) -> str:
    """A short reason for members and for /info (no tracebacks, no internals)."""
    if isinstance(error, CannotCheckHistory):
        return "I can't read that channel's message history (Read Message History) to check for an earlier post"
    if isinstance(error, discord.HTTPException):
        return f"Discord answered {error.status}: {error.text or getattr(error.response, 'reason', '')}".rstrip(": ")
    if isinstance(error, FileNotFoundError):
        return "the result's files are missing on the bot's disk"
    return f"{type(error).__name__}: {error}"[:200]


class Delivery:
    """Posts results and failures, and edits status messages with progress."""

    def __init__(self, bot: ImagineBot, queue: Queue, store: ImageStore, *, poll_seconds: float, max_side: int,
                 rng: random.Random | None = None) -> None:
        self.bot, self.queue, self.store = bot, queue, store
        self.poster = Poster(bot, store, max_side)
        self.poll_seconds = poll_seconds
        self.rng = rng or random.Random()
        self.wakeup = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self.status = StatusBoard(bot, queue, store, headline)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver and update progress until stopped; deliveries under way get a moment to finish."""
        try:
            while not stop.is_set():
                try:
                    await self.deliver_pending()
                    await self.status.update()
                except QueueError as exc:  # a locked or restarting database: the next round tries again
                    log.warning("delivery round failed (%s); trying again shortly", exc)
                try:
                    await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass
                self.wakeup.clear()
        finally:
            await self._drain()

    async def _drain(self) -> None:
        tasks = list(self._in_flight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
            for task in pending:
                task.cancel()  # an interrupted post is found in the channel's history next time
            await asyncio.gather(*tasks, return_exceptions=True)

    async def deliver_pending(self) -> int:
        """Start a delivery task for every job that is due and not already under way; returns how many started."""
        jobs = await self.queue.undelivered(limit=BATCH, skip=set(self._in_flight))
        for job in jobs:
            task = asyncio.create_task(self._deliver(job), name=f"deliver job {job.id}")
            self._in_flight[job.id] = task
            task.add_done_callback(lambda _, job_id=job.id: self._in_flight.pop(job_id, None))
        return len(jobs)

    async def _deliver(self, job: JobView) -> None:
        attempt = job.delivery_attempts + 1
        try:
            attempt = await self.queue.begin_delivery(job.id)
            await self.deliver(job, attempt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is decided on here; none may end the task unseen
            try:
                await self._after_failure(job, attempt, exc)
            except Exception:  # logged with its traceback; the job stays due and is tried again
                log.exception("recording the failed delivery of job %s failed; it is tried again", job.id)

    async def deliver(self, job: JobView, attempt: int) -> None:
        """Post one job's result (or failure) once and record it."""
        channel = await self.poster.channel(job.channel_id)
        if attempt > 1:
            try:
                existing = await self.poster.already_posted(channel, job)
            except discord.Forbidden as exc:
                raise CannotCheckHistory() from exc
            if existing is not None:
                log.info("job %s was already posted as message %s; recording it", job.id, existing.id)
                await self.queue.mark_delivered(job.id, existing.id)
                await self._drop_status(job)
                return
        message = await self.poster.post(channel, job)
        await self.queue.mark_delivered(job.id, message.id)
        await self._drop_status(job)
        if job.status == "succeeded":
            await self._copy_by_dm(job, message)

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
        return await self.poster.post(channel, job, content=f"{headline(job)} {note}", mentions=NO_MENTIONS)

    async def _after_failure(self, job: JobView, attempt: int, error: Exception) -> None:
        wait = retry_after(error, attempt, self.rng)
        if wait is not None:
            delayed = await self.queue.delay_delivery(job.id, wait)
            if delayed is None:
                return  # delivered meanwhile
            failing_for = self.queue.now() - (delayed.delivery_error_at or self.queue.now())
            if failing_for < RETRY_FOR:
                log.warning("delivering job %s failed (%s); retrying in %.0f s", job.id, describe(error), wait)
                return
            reason = f"Discord kept failing for {failing_for.total_seconds() / 60:.0f} minutes ({describe(error)})"
        else:
            reason = describe(error)
            if not isinstance(error, discord.HTTPException | CannotCheckHistory | FileNotFoundError):
                log.error("delivering job %s failed unexpectedly", job.id, exc_info=error)
        await self._give_up(job, reason)

    async def _give_up(self, job: JobView, reason: str) -> None:
        """The channel won't take it: tell the member privately, and record why for /info."""
        how = "the member could not be told: the interaction had expired and DMs are closed"
        try:
            if await self.poster.follow_up(job, reason) is not None:
                how = "sent to the member as a private follow-up"
        except (discord.HTTPException, OSError, aiohttp.ClientError) as exc:
            log.warning("private follow-up for job %s failed: %s", job.id, describe(exc))
        if how.startswith("the member"):
            try:
                await self.poster.direct_message(job, reason)
                how = "sent to the member as a DM"
            except (discord.HTTPException, OSError, aiohttp.ClientError) as exc:
                how = f"the member could not be told ({describe(exc)})"
        log.error("job %s could not be posted in channel %s: %s; %s", job.id, job.channel_id, reason, how)
        await self.queue.mark_delivered(job.id, None, failed=f"{reason}; {how}")
        await self._drop_status(job)

    async def _drop_status(self, job: JobView) -> None:
        """The result replaces the live status message."""
        self.status.forget(job.id)
        if job.status_message_id:
            try:
                channel = await self.poster.channel(job.channel_id)
                await channel.get_partial_message(job.status_message_id).delete()  # type: ignore[attr-defined]
            except discord.HTTPException:
                pass
