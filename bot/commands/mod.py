"""/mod: the moderator console. Every subcommand checks the moderator rule itself, at run time.

Discord's `default_permissions` only decides who sees /mod by default, and a server can widen it, so it is a hint:
the check that binds is `is_moderator`, called first thing in every subcommand. Every action is audited in the
same transaction that does it, then posted to the moderator log channel.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands.account import quota_text
from bot.commands.context import bot_of
from bot.errors import NotModerator, UserError
from bot.moderators import is_moderator, member_is_moderator
from bot.modlog import describe, stamp
from bot.replies import PrivateReply
from db.moderation import Outcome, QueueEntry

if TYPE_CHECKING:
    from bot.client import ImagineBot

MAX_BAN = timedelta(days=366)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\s*(\d{1,6})\s*([smhdw]))+\s*")
_PART = re.compile(r"(\d{1,6})\s*([smhdw])")
LIST_LIMIT = 20
AUDIT_LIMIT = 15

mod = app_commands.Group(name="mod", description="Moderator tools: bans, the queue, quotas and the audit log",
                         guild_only=True, default_permissions=discord.Permissions(manage_guild=True))


def parse_duration(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `1w2d`: a positive duration of at most a year, or a UserError naming the text."""
    cleaned = text.strip().lower()
    if not _DURATION.fullmatch(cleaned):
        raise UserError(f"{text!r} is not a duration; write it like 30m, 12h, 7d or 1w2d "
                        "(s, m, h, d, w), or leave it out for a ban until unbanned.")
    length = timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)))
    if not timedelta(0) < length <= MAX_BAN:
        raise UserError(f"A ban of {text!r} is out of range: from 1s to {MAX_BAN.days} days.")
    return length


def _moderator(interaction: discord.Interaction) -> tuple[ImagineBot, int]:
    """The bot and guild id, once the invoker is known to be a moderator; otherwise NotModerator."""
    bot = bot_of(interaction)
    if interaction.guild_id is None or not member_is_moderator(interaction, bot.config.moderation):
        raise NotModerator("Only moderators can use /mod: members with the Manage Server permission or one of the "
                           "server's moderator roles.")
    return bot, interaction.guild_id


def _is_moderator_member(bot: ImagineBot, user: discord.User | discord.Member) -> bool:
    """Whether a chosen member is a moderator (Discord resolves their permissions with the option)."""
    if not isinstance(user, discord.Member):
        return False
    permissions = user.resolved_permissions or user.guild_permissions
    return is_moderator(permissions.value, (r.id for r in user.roles), bot.config.moderation.moderator_role_ids)


async def _announce(bot: ImagineBot, outcome: Outcome) -> None:
    """After an action committed: post it to the log channel, and let delivery tell members about cancelled jobs."""
    if outcome.jobs:
        bot.delivery.wakeup.set()
    if outcome.entry is not None:
        await bot.modlog.action(outcome.entry)


def _jobs(outcome: Outcome) -> str:
    return ", ".join(f"#{job.id}" for job in outcome.jobs) or "none"


@mod.command(name="ban")
@app_commands.describe(user="The member to ban", reason="Why (the member and the audit log see it)",
                       duration="How long: 30m, 12h, 7d, 1w2d (s, m, h, d, w); leave out to ban until unbanned")
async def ban(interaction: discord.Interaction, user: discord.User,
              duration: app_commands.Range[str, 1, 32] | None = None,
              reason: app_commands.Range[str, 1, 500] | None = None) -> None:
    """Ban a member from the bot at once: commands and buttons refused, waiting jobs cancelled."""
    bot, guild_id = _moderator(interaction)
    length = parse_duration(duration) if duration else None
    if user.bot or user.id == interaction.user.id:
        raise UserError("Bans are for members: not for bots, and not for yourself.")
    if _is_moderator_member(bot, user):
        raise UserError(f"{user.mention} is a moderator; take away their Manage Server permission or moderator "
                        "role first.")
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.ban(guild_id, user.id, interaction.user.id, duration=length,
                                           reason=reason or "")
        assert outcome.ban is not None
        until = f"until {stamp(outcome.ban.expires_at)}" if outcome.ban.expires_at else "until unbanned"
        await reply.send(f"Banned {user.mention} {until}. Cancelled waiting jobs: {_jobs(outcome)}.")
    await _announce(bot, outcome)


@mod.command(name="unban")
@app_commands.describe(user="The member whose ban to lift")
async def unban(interaction: discord.Interaction, user: discord.User) -> None:
    """Lift a member's ban now."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.unban(guild_id, user.id, interaction.user.id)
        if outcome.entry is None:
            raise UserError(f"{user.mention} is not banned.")
        await reply.send(f"Lifted the ban on {user.mention}.")
    await _announce(bot, outcome)


@mod.command(name="cancel")
@app_commands.describe(job="The id of any member's waiting or running job")
async def cancel(interaction: discord.Interaction, job: app_commands.Range[int, 1]) -> None:
    """Cancel any member's waiting or running job."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.cancel_job(guild_id, job, interaction.user.id)
        if not outcome.jobs:
            raise UserError(f"There is no waiting or running job #{job} on this server.")
        found = outcome.jobs[0]
        state = "cancelled" if found.status == "cancelled" else "being stopped"
        await reply.send(f"Job #{job} of <@{found.user_id}> is {state}.")
    await _announce(bot, outcome)


@mod.command(name="purge")
@app_commands.describe(user="The member whose waiting jobs to cancel")
async def purge(interaction: discord.Interaction, user: discord.User) -> None:
    """Cancel all of a member's waiting jobs."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.purge(guild_id, user.id, interaction.user.id)
        await reply.send(f"Cancelled {len(outcome.jobs)} waiting job(s) of {user.mention}: {_jobs(outcome)}.")
    await _announce(bot, outcome)


quota = app_commands.Group(name="quota", description="A member's daily image and GPU-time quota", parent=mod)


def _role_ids(user: discord.User | discord.Member) -> tuple[int, ...]:
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()


async def _quota_now(bot: ImagineBot, user: discord.User | discord.Member) -> str:
    """The member's quota as /quota shows it to them (their tier comes from their roles)."""
    usage = await bot.submissions.admission.usage(user.id, _role_ids(user))
    override = " (their own daily quota, set by a moderator)" if usage.overridden else ""
    return f"{user.mention}{override}\n{quota_text(usage)}"


@quota.command(name="show")
@app_commands.describe(user="The member")
async def quota_show(interaction: discord.Interaction, user: discord.User) -> None:
    """A member's quota today: used, left and when it resets."""
    bot, _ = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        await reply.send(await _quota_now(bot, user))


@quota.command(name="set")
@app_commands.describe(user="The member", images_per_day="Images per UTC day, instead of their role's tier",
                       gpu_seconds_per_day="GPU seconds per UTC day, instead of their role's tier")
async def quota_set(interaction: discord.Interaction, user: discord.User,
                    images_per_day: app_commands.Range[int, 0, 1_000_000],
                    gpu_seconds_per_day: app_commands.Range[float, 0, 100_000_000]) -> None:
    """Give a member their own daily quota, replacing their role's tier."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.set_quota(guild_id, user.id, interaction.user.id, images_per_day=images_per_day,
                                                 gpu_seconds_per_day=gpu_seconds_per_day)
        await reply.send(f"Set. {await _quota_now(bot, user)}")
    await _announce(bot, outcome)


@quota.command(name="grant")
@app_commands.describe(user="The member", images="Extra images for today (UTC)",
                       gpu_seconds="Extra GPU seconds for today (UTC)")
async def quota_grant(interaction: discord.Interaction, user: discord.User, images: app_commands.Range[int, 0, 1_000_000],
                      gpu_seconds: app_commands.Range[float, 0, 100_000_000]) -> None:
    """Add a one-off amount to a member's quota for today."""
    bot, guild_id = _moderator(interaction)
    if images == 0 and gpu_seconds == 0:
        raise UserError("A grant of 0 images and 0 GPU seconds changes nothing; give at least one of them.")
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.grant_quota(guild_id, user.id, interaction.user.id, images=images,
                                                   gpu_seconds=gpu_seconds)
        await reply.send(f"Granted. {await _quota_now(bot, user)}")
    await _announce(bot, outcome)


@quota.command(name="reset")
@app_commands.describe(user="The member")
async def quota_reset(interaction: discord.Interaction, user: discord.User) -> None:
    """Back to their role's tier, with nothing used today."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        outcome = await bot.moderation.reset_quota(guild_id, user.id, interaction.user.id)
        await reply.send(f"Reset. {await _quota_now(bot, user)}")
    await _announce(bot, outcome)


def _age(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def queue_line(entry: QueueEntry, now: datetime) -> str:
    """`#12 · waiting, position 2 · @member · 3m old · prompt` for /mod queue."""
    job = entry.job
    if job.status == "running":
        done = f" {round(100 * (job.progress_step or 0) / job.progress_total)}%" if job.progress_total else ""
        state = f"running{done}" + (", stopping" if job.cancel_requested else "")
    else:
        state = f"waiting, position {entry.position}"
    prompt = discord.utils.escape_markdown(job.prompt if len(job.prompt) <= 60 else job.prompt[:60] + "…")
    return f"`#{job.id}` · {state} · <@{job.user_id}> · {_age(now, job.created_at)} old · {prompt}"


@mod.command(name="queue")
async def queue(interaction: discord.Interaction) -> None:
    """Waiting and running jobs with owner, position, state and age."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        entries = await bot.moderation.active_jobs(guild_id, limit=LIST_LIMIT)
        now = bot.moderation.now()
        running = sum(1 for e in entries if e.job.status == "running")
        lines = [f"**Queue**: {running} running, {len(entries) - running} waiting"
                 + (f" (first {LIST_LIMIT})" if len(entries) >= LIST_LIMIT else "")]
        lines += [queue_line(e, now) for e in entries] or ["Nothing is waiting or running."]
        await reply.send("\n".join(lines)[:2000])


@mod.command(name="audit")
@app_commands.describe(user="Only actions done to this member (default: all)")
async def audit(interaction: discord.Interaction, user: discord.User | None = None) -> None:
    """The latest moderator actions, newest first."""
    bot, guild_id = _moderator(interaction)
    async with PrivateReply(interaction) as reply:
        entries = await bot.moderation.audit(guild_id, user_id=user.id if user else None, limit=AUDIT_LIMIT)
        title = f"**Moderator actions** on {user.mention}" if user else "**Moderator actions**"
        lines = [title, *(describe(e) for e in entries)] if entries else [f"{title}: none yet."]
        await reply.send("\n".join(lines)[:2000])
