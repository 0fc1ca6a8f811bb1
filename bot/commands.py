"""Slash commands: /imagine, /vary, /upscale, /cancel. Each docstring is its Discord description."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import discord
from discord import app_commands

from bot.errors import UnknownJob, UserError, render
from bot.replies import PrivateReply
from bot.submissions import Origin
from db.queue import Enqueued
from generation.prompt_params import parse_prompt
from generation.uploads import check_upload

if TYPE_CHECKING:
    from bot.client import ImagineBot

log = logging.getLogger(__name__)

_MESSAGE_LINK = re.compile(r"https://(?:\w+\.)?discord(?:app)?\.com/channels/\d+/\d+/(\d+)")


def origin_of(interaction: discord.Interaction) -> Origin:
    """Who asked, where: the identity stored with the job."""
    roles = tuple(r.id for r in getattr(interaction.user, "roles", ()) or ())
    return Origin(interaction_id=interaction.id, user_id=interaction.user.id, guild_id=interaction.guild_id,
                  channel_id=interaction.channel_id or 0, role_ids=roles)


def queued_text(enqueued: Enqueued) -> str:
    """`Queued as job #12: position 3, about 40 s.`"""
    job = enqueued.job
    if not enqueued.created:
        return f"That was already queued as job #{job.id} ({job.status})."
    eta = f", about {max(1, round(enqueued.eta_seconds))} s" if enqueued.eta_seconds is not None else ""
    return f"Queued as job #{job.id}: position {enqueued.position}{eta}. The result will be posted in this channel."


class ImagineTree(app_commands.CommandTree):
    """A command tree that renders every error for the member in one place."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Show the member what went wrong, privately; unexpected errors are logged by render()."""
        original = getattr(error, "original", error)
        text = render(original)
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


def _bot(interaction: discord.Interaction) -> ImagineBot:
    return interaction.client  # type: ignore[return-value]


@app_commands.command(name="imagine")
@app_commands.describe(prompt="What to draw. Flags go at the end: --ar 16:9 --no text --seed 42 --chaos 30 --q 2",
                       model="Which of this server's models to use (default: the server's default model)")
@app_commands.guild_only()
async def imagine(interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 1500],
                  model: app_commands.Range[str, 1, 32] | None = None) -> None:
    """Generate four images from a prompt."""
    bot = _bot(interaction)
    spec = parse_prompt(prompt, bot.prompt_defaults)
    if spec.sampler == "default":  # no --sampler flag: the operator's configured sampler
        spec = dataclasses.replace(spec, sampler=bot.config.generation.sampler)
    request = spec.to_request(base_seed=bot.submissions.seed(), model=_model_id(bot, model))
    async with PrivateReply(interaction) as reply:
        enqueued = await bot.submissions.imagine(origin_of(interaction), request)
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()


def _model_id(bot: ImagineBot, name: str | None) -> str:
    """The hub id or folder behind a model name members pick; the default model without one."""
    if name is None:
        return bot.config.model.default
    choices = bot.config.model.choices
    if name not in choices:
        known = ", ".join(sorted(choices)) or "none are configured"
        raise UserError(f"There is no model {name!r} on this server; choose one of: {known}.")
    return choices[name]


@imagine.autocomplete("model")
async def _model_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Offer the configured model names that match what the member typed."""
    names = sorted(_bot(interaction).config.model.choices)
    return [app_commands.Choice(name=name, value=name) for name in names if current.lower() in name][:25]


async def _job_id_from(bot: ImagineBot, job: str) -> int:
    """Accept a job id, a result message id or a message link."""
    text = job.strip().lstrip("#")
    if (match := _MESSAGE_LINK.fullmatch(text)) is not None:
        text = match.group(1)
    if not text.isdigit():
        raise UserError(f"{job!r} is not a job id or a message link.")
    number = int(text)
    if number > 2**31:  # a snowflake: the id of a result message
        found = await bot.queue.find_by_message(number)
        if found is None:
            raise UnknownJob(f"Message {number} is not one of my results.")
        return found.id
    return number


async def _saved_upload(bot: ImagineBot, interaction: discord.Interaction,
                        image: discord.Attachment) -> tuple[str, tuple[int, int]]:
    """Download an attachment from Discord's own URL, check it before decoding, keep it as a PNG."""
    host = urlsplit(image.url).hostname or ""
    if host not in bot.config.discord.attachment_hosts:
        raise UserError(f"I only fetch images that Discord hosts; {host!r} is not one of its hosts.")
    caps = bot.config.uploads
    if image.size > caps.max_bytes:
        raise UserError(f"{image.filename} is {image.size:,} bytes; the limit is {caps.max_bytes:,}.")
    data = await image.read()
    decoded = await asyncio.to_thread(check_upload, data, image.filename, image.content_type,
                                      max_bytes=caps.max_bytes, max_pixels=caps.max_pixels)
    path = bot.config.uploads_dir / f"{interaction.id}.png"

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        decoded.convert("RGB").save(path, "PNG")

    await asyncio.to_thread(save)
    return f"uploads/{path.name}", (decoded.width, decoded.height)


async def _on_tile_or_upload(interaction: discord.Interaction, *, upscale: bool, job: str | None, tile: int | None,
                             image: discord.Attachment | None, strength: str, prompt: str | None,
                             denoise: float | None) -> None:
    bot = _bot(interaction)
    origin = origin_of(interaction)
    if (job is None) == (image is None):
        raise UserError("Give either a job (and tile) or an image, not both and not neither.")
    async with PrivateReply(interaction) as reply:
        if image is not None:
            await reply.defer()  # a download and a decode: acknowledge first
            path, size = await _saved_upload(bot, interaction, image)
            g = bot.config.generation
            default = g.refine_strength if upscale else (g.img2img_strong if strength == "strong" else
                                                          g.img2img_subtle)
            enqueued = await bot.submissions.from_upload(origin, path, size, upscale=upscale,
                                                         prompt=(prompt or "").strip(),
                                                         strength=denoise if denoise is not None else default)
        else:
            job_id = await _job_id_from(bot, job or "")
            if upscale:
                enqueued = await bot.submissions.upscale(origin, job_id, tile or 1)
            else:
                enqueued = await bot.submissions.vary(origin, job_id, tile or 1, strong=strength == "strong")
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()


@app_commands.command(name="vary")
@app_commands.describe(job="A job id, or a link to a result message", tile="Which image of the grid (1-4)",
                       strength="How far the variations may wander", image="Or: an image of your own (PNG, JPEG, WebP)",
                       prompt="With an image: what it should become",
                       denoise="With an image: how much to change (0.05-0.95)")
@app_commands.guild_only()
async def vary(interaction: discord.Interaction, job: str | None = None,
               tile: app_commands.Range[int, 1, 4] | None = None,
               strength: Literal["subtle", "strong"] = "subtle", image: discord.Attachment | None = None,
               prompt: app_commands.Range[str, 0, 1500] | None = None,
               denoise: app_commands.Range[float, 0.05, 0.95] | None = None) -> None:
    """Four seed-locked variations of one image of a grid, or of an image you upload."""
    await _on_tile_or_upload(interaction, upscale=False, job=job, tile=tile, image=image, strength=strength,
                             prompt=prompt, denoise=denoise)


@app_commands.command(name="upscale")
@app_commands.describe(job="A job id, or a link to a result message", tile="Which image of the grid (1-4)",
                       image="Or: an image of your own (PNG, JPEG, WebP)", prompt="With an image: what it shows",
                       denoise="With an image: how much to refine (0.05-0.95)")
@app_commands.guild_only()
async def upscale(interaction: discord.Interaction, job: str | None = None,
                  tile: app_commands.Range[int, 1, 4] | None = None, image: discord.Attachment | None = None,
                  prompt: app_commands.Range[str, 0, 1500] | None = None,
                  denoise: app_commands.Range[float, 0.05, 0.95] | None = None) -> None:
    """Twice the size and refined: one image of a grid, or an image you upload."""
    await _on_tile_or_upload(interaction, upscale=True, job=job, tile=tile, image=image, strength="subtle",
                             prompt=prompt, denoise=denoise)


@app_commands.command(name="cancel")
@app_commands.describe(job="The id of your job to cancel")
@app_commands.guild_only()
async def cancel(interaction: discord.Interaction, job: int) -> None:
    """Cancel one of your queued or running jobs."""
    bot = _bot(interaction)
    async with PrivateReply(interaction) as reply:
        found = await bot.queue.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            raise UnknownJob(f"There is no job #{job} on this server.")
        if found.user_id != interaction.user.id:
            raise UserError(f"Job #{job} is not yours to cancel.")
        result = await bot.queue.cancel(job, interaction.user.id)
        if result is None or result.status not in ("cancelled", "running"):
            raise UserError(f"Job #{job} has already finished ({found.status}).")
        state = "cancelled" if result.status == "cancelled" else "being stopped"
        await reply.send(f"Job #{job} is {state}.")


ALL_COMMANDS = (imagine, vary, upscale, cancel)


async def on_button(interaction: discord.Interaction, action: str, job_id: int, tile: int) -> None:
    """A U/V/re-roll click: queue the child job and tell the clicker privately."""
    from bot.buttons import REROLL, UPSCALE, VARY_STRONG

    bot = _bot(interaction)
    origin = origin_of(interaction)
    async with PrivateReply(interaction) as reply:
        try:
            if action == REROLL:
                enqueued = await bot.submissions.reroll(origin, job_id)
            elif action == UPSCALE:
                enqueued = await bot.submissions.upscale(origin, job_id, tile)
            else:
                enqueued = await bot.submissions.vary(origin, job_id, tile, strong=action == VARY_STRONG)
        except Exception as exc:  # every domain error is rendered in one place
            await reply.send(render(exc))
            return
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()
