"""The one door every job goes through (commands, buttons, and later modals, appeals and "Allow once").

Inside the enqueue's transaction, in this order: ban, channel profile (command, model, steps, pixels), parent
visibility, per-member and global limits, quota reservation; then the insert. A refusal is a db.limits.Refused
with the member-facing reason and, where known, when it frees up; nothing is written then. Nothing else writes jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import policy
from bot.logs import job_fields
from bot.config import Config
from bot.moderators import banned_text
from bot.policy import ChannelFacts, JobAsk
from db import quotas
from db.limits import Limits, Refused, check_limits, lock_admission
from db.moderation import active_ban
from db.queue import Enqueued, JobView, NewJob, Queue
from db.quotas import Budget, CostModel, Quotas, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Who asked, where, through which interaction, and what the bot can tell about the channels involved."""

    interaction_id: int
    user_id: int
    guild_id: int | None
    channel_id: int
    role_ids: tuple[int, ...] = ()
    channel: ChannelFacts | None = None  # None: a plain guild channel with no category, not age-restricted
    # The facts of another channel of this guild as this member sees it (None: unknown or gone).
    lookup: Callable[[int], ChannelFacts | None] = field(default=lambda channel_id: None, compare=False, repr=False)

    @property
    def here(self) -> ChannelFacts:
        """The facts of the channel the interaction came from."""
        return self.channel or ChannelFacts(id=self.channel_id)


@dataclass(frozen=True)
class Ticket:
    """One job at the door: who asks, for what, from which parent."""

    origin: Origin
    ask: JobAsk
    new: NewJob | None = None  # None: a pre-check before expensive work (nothing is inserted)
    parent: JobView | None = None


async def ban_refusal(session: AsyncConnection, guild_id: int | None, user_id: int, now: datetime) -> str | None:
    """Step 1, the ban (db/moderation.py, branch mod): the member-facing reason when banned here, else None."""
    ban = await active_ban(session, guild_id, user_id, now)
    return None if ban is None else banned_text(ban)


class Admission:
    """Judges tickets inside the enqueue's transaction; see the module docstring for the order of the checks."""

    def __init__(self, queue: Queue, config: Config) -> None:
        self.queue, self.config = queue, config
        self.quotas = Quotas(queue.engine, clock=queue.now)
        self.costs = CostModel()
        lim = config.limits
        self.limits = Limits(max_queued_per_user=lim.max_queued_per_user, jobs_per_window=lim.jobs_per_window,
                             window_seconds=float(lim.window_seconds), max_queue_size=lim.max_queue_size)

    async def enqueue(self, ticket: Ticket) -> Enqueued:
        """Admit and insert the ticket's job in one transaction (a retried interaction gets its job back)."""
        if ticket.new is None:
            raise ValueError("a ticket without a job can only be pre-checked")
        origin = ticket.origin
        try:
            enqueued = await self.queue.enqueue(ticket.new, admit=_Door(self, ticket))
        except Refused as exc:
            # One line per refusal, so an operator can answer "why didn't my job queue?" from the logs.
            log.info("refused a %s job: %s", ticket.new.kind, exc.reason,
                     extra={"user_id": origin.user_id, "guild_id": origin.guild_id, "channel_id": origin.channel_id,
                            "kind": str(ticket.new.kind)})
            raise
        if enqueued.created:
            log.info("job %s queued (position %s)", enqueued.job.id, enqueued.position,
                     extra=job_fields(enqueued.job))
        return enqueued

    async def precheck(self, ticket: Ticket) -> None:
        """Run the same checks without inserting (e.g. before downloading an upload); raises Refused."""
        await self.queue.in_transaction(_Door(self, ticket).check)

    def profile_for(self, channel: ChannelFacts):
        """The profile of a channel under the current config."""
        return policy.profile_for(self.config.profiles, channel)

    # -- the steps, in order ----------------------------------------------------------------------------------
    async def _check(self, session: AsyncConnection, ticket: Ticket, now: datetime) -> Budget:
        """Every check, in order; returns the job's estimated cost (reserved by _record after the insert)."""
        origin = ticket.origin
        await lock_admission(session)  # every step below sees what earlier admissions committed
        # 1. ban
        if (reason := await ban_refusal(session, origin.guild_id, origin.user_id, now)) is not None:
            raise Refused(reason)
        # 2. channel profile (and the operator's channel allowlist)
        allowed = self.config.discord.channel_ids
        if allowed and origin.guild_id is not None and origin.channel_id not in allowed:
            where = ", ".join(f"<#{channel}>" for channel in allowed)
            raise Refused(f"Images are made only in {where}; nothing was queued.")
        if (reason := policy.profile_refusal(self.profile_for(origin.here), ticket.ask)) is not None:
            raise Refused(reason)
        # 3. parent visibility, and who may build on another member's job here
        if ticket.parent is not None:
            parent = ticket.parent
            seen = origin.lookup(parent.channel_id) if parent.channel_id is not None else None
            if (reason := policy.parent_refusal(parent.id, parent.channel_id, origin.here, seen)) is not None:
                raise Refused(reason)
            profile = self.profile_for(origin.here)
            if (reason := policy.buttons_refusal(profile, parent.id, parent.user_id, origin.user_id)) is not None:
                raise Refused(reason)
        # 4. limits
        await check_limits(session, origin.user_id, now, self.limits)
        # 5. quota: the estimated cost must fit in what is left today (reserved by _record after the insert)
        cost = await self._cost(session, ticket)
        await quotas.check_quota(session, origin.user_id, self.tier(origin.role_ids), cost, now)
        return cost

    async def _record(self, session: AsyncConnection, ticket: Ticket, job: JobView, cost: Budget,
                      now: datetime) -> None:
        """After the insert, in the same transaction: reserve the cost the checks estimated."""
        multiplier = self.profile_for(ticket.origin.here).quota_multiplier
        await quotas.reserve(session, job.user_id, job.id, cost, multiplier, now)

    async def _cost(self, session: AsyncConnection, ticket: Ticket) -> Budget:
        ask = ticket.ask
        pixels = ask.pixels or self.config.generation.width * self.config.generation.height
        seconds = await self.costs.estimate(session, ask.images, ask.steps, pixels)
        return quotas.job_cost(ask.images, seconds, self.profile_for(ticket.origin.here).quota_multiplier)

    def tier(self, role_ids: tuple[int, ...]) -> Budget:
        """The configured daily budget of a member with these roles (the best of their tiers)."""
        tier = self.config.quotas.tier_for(role_ids)
        return Budget(tier.images_per_day, tier.gpu_seconds_per_day)

    async def usage(self, user_id: int, role_ids: tuple[int, ...]) -> Usage:
        """A member's quota today: allowance (tier, override, grants), use and reset time, for /quota and /info."""
        return await self.quotas.usage(user_id, self.tier(role_ids))


class _Door:
    """One ticket's checks, in the shape Queue.enqueue calls (db.queue.Admit)."""

    def __init__(self, admission: Admission, ticket: Ticket) -> None:
        self.admission, self.ticket = admission, ticket
        self.cost: Budget | None = None  # estimated once by check, reserved by record

    async def check(self, session: AsyncConnection, now: datetime) -> None:
        self.cost = await self.admission._check(session, self.ticket, now)

    async def record(self, session: AsyncConnection, job: JobView, now: datetime) -> None:
        if self.cost is None:
            raise RuntimeError("the door records a job only after checking it")
        await self.admission._record(session, self.ticket, job, self.cost, now)
