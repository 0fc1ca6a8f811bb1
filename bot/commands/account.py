"""/quota and /info: a member's own daily quota, and their waiting and running jobs."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.commands.context import bot_of
from bot.replies import PrivateReply
from db.quotas import Usage
from db.views import JobView


def quota_text(usage: Usage) -> str:
    """Used, left and the reset time, the same figures for /quota, /info and /mod quota show."""
    a, u, left = usage.allowance, usage.used, usage.left
    reset = int(usage.resets_at.timestamp())
    return (f"Today's quota (resets <t:{reset}:R>, at 00:00 UTC):\n"
            f"- images: {u.images} of {a.images} used, {left.images} left\n"
            f"- GPU time: {u.gpu_seconds:.0f} of {a.gpu_seconds:.0f} seconds used, {left.gpu_seconds:.0f} left")


def job_line(job: JobView, position: int, eta: float | None) -> str:
    """`#12 running (step 5/25)` or `#13 waiting: position 2, about 40 s`."""
    if job.status == "running":
        step = f" (step {job.progress_step}/{job.progress_total})" if job.progress_total else ""
        return f"- #{job.id} {job.kind} running{step}"
    about = f", about {max(1, round(eta))} s" if eta is not None else ""
    return f"- #{job.id} {job.kind} waiting: position {position}{about}"


@app_commands.command(name="quota")
@app_commands.guild_only()
async def quota(interaction: discord.Interaction) -> None:
    """How much of today's image and GPU-time quota you have used and have left."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        usage = await bot.submissions.admission.usage(interaction.user.id, _roles(interaction))
        await reply.send(quota_text(usage))


@app_commands.command(name="info")
@app_commands.guild_only()
async def info(interaction: discord.Interaction) -> None:
    """Your waiting and running jobs with their places in line, and your quota."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        jobs = await bot.queue.active_jobs(interaction.user.id)
        lines = []
        for job in jobs:
            position, eta = await bot.queue.position(job.id)
            lines.append(job_line(job, position, eta))
        usage = await bot.submissions.admission.usage(interaction.user.id, _roles(interaction))
        head = "Your jobs:\n" + "\n".join(lines) if lines else "You have no jobs waiting or running."
        await reply.send(f"{head}\n\n{quota_text(usage)}")


def _roles(interaction: discord.Interaction) -> tuple[int, ...]:
    return tuple(r.id for r in getattr(interaction.user, "roles", ()) or ())
