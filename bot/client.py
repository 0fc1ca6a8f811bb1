"""The Discord client. Resources come in through the constructor (discord.py's advanced_startup pattern)."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot import metrics
from bot.appeals import AppealButton
from bot.buttons import JobButton
from bot.canvas_modal import submit_canvas
from bot.commands import ALL_COMMANDS, ImagineTree
from bot.config import Config
from bot.delivery import Delivery
from bot.holds import HoldButton, Holds
from bot.loop_lag import monitor_loop_lag
from bot.mentions import NO_MENTIONS
from bot.modlog import ModLog
from bot.remix_modal import submit_remix
from bot.storage import ImageStore, store_for
from bot.submissions import Submissions, TokenLimit
from bot.supervision import Supervisor
from bot.worker import Worker
from db.moderation import Moderation
from db.queue import Queue
from db.settings import SettingsStore
from generation.prompt_params import PromptDefaults

log = logging.getLogger(__name__)


class ImagineBot(discord.Client):
    """Slash commands, buttons, delivery, and (optionally) an embedded worker, on one event loop."""

    def __init__(self, config: Config, queue: Queue, submissions: Submissions, *, worker: Worker | None,
                 prompt_defaults: PromptDefaults, token_limit: TokenLimit | None = None,
                 storage: ImageStore | None = None, guild_ready_timeout: float = 2.0) -> None:
        # Only guild events are needed: no message content, no members list (privileged intents stay off).
        # No message pings anyone unless it says whom: prompts are member text and may say @everyone.
        super().__init__(intents=discord.Intents(guilds=True), allowed_mentions=NO_MENTIONS,
                         # A long 429 raises instead of parking a task for minutes; delivery reschedules it.
                         max_ratelimit_timeout=30.0, http_trace=metrics.discord_trace(),
                         guild_ready_timeout=guild_ready_timeout)
        self.config, self.queue, self.submissions = config, queue, submissions
        self.worker = worker
        self.prompt_defaults = prompt_defaults
        self.token_limit = token_limit
        self.tree = ImagineTree(self)
        # Bans, the audit trail and the queue share one database and one clock.
        self.moderation = Moderation(queue.engine, clock=queue.now)
        self.modlog = ModLog(self, config.moderation.log_channel_id)
        self.settings = SettingsStore(queue.engine, clock=queue.now)  # members' /settings
        self.holds = Holds(self, submissions.safety)  # flagged results: spoilers, or held for the moderators
        # Where results, previews and uploads live: the data folder or the bucket the workers share (bot/storage.py).
        self.storage = storage or store_for(config)
        self.delivery = Delivery(self, queue, self.storage, poll_seconds=config.queue.poll_seconds,
                                 max_side=config.generation.max_side)
        self._stop = asyncio.Event()
        # Delivery and the embedded worker run for the bot's whole life: supervised, so neither dies silently.
        self.supervisor = Supervisor(self._stop)
        if worker is not None:
            worker.on_finished = lambda job_id: self.delivery.wakeup.set()

    async def setup_hook(self) -> None:
        """Register buttons and commands, sync them, and start delivery and the embedded worker."""
        if self.token_limit is not None:
            await self.token_limit.load()
        self.add_dynamic_items(JobButton, AppealButton, HoldButton)
        for command in ALL_COMMANDS:
            self.tree.add_command(command)
        if self.config.discord.guild_ids:
            for guild_id in self.config.discord.guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        self._stop.clear()
        self.supervisor.start("delivery", lambda: self.delivery.run(self._stop))
        if self.config.diagnostics.loop_lag_seconds > 0:
            window = self.config.diagnostics.loop_lag_seconds
            self.supervisor.start("loop-lag", lambda: monitor_loop_lag(window, self._stop))
        if self.worker is not None:
            worker = self.worker
            self.supervisor.start("worker", lambda: worker.run(self._stop))

    def notify_new_job(self) -> None:
        """Wake the embedded worker at once instead of at its next poll."""
        if self.worker is not None:
            self.worker.wakeup.set()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Remember each interaction while its token lives (a result the channel refuses can still reach its
        member); answer Remix, Vary (Region) and Custom Zoom edit boxes from their custom_id alone, so they outlive
        a restart."""
        self.delivery.poster.interactions.remember(interaction)
        if not await submit_remix(interaction):
            await submit_canvas(interaction)

    async def on_ready(self) -> None:
        """Log who we are once connected."""
        log.info("connected as %s (%s) to %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def close(self) -> None:
        """Stop claiming, let the running job finish or hand it back, then disconnect."""
        await self.supervisor.close(grace_s=self.config.worker.shutdown_grace_seconds + 5)
        await super().close()
