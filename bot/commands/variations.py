"""/vary and /upscale: seed-locked variations and 2x refinements of a tile, a past result or an upload."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import discord
from discord import app_commands

from bot.commands.context import bot_of, origin_of, queued_text
from bot.errors import UnknownJob, UserError
from bot.replies import PrivateReply
from generation.uploads import check_upload

if TYPE_CHECKING:
    from bot.client import ImagineBot

_MESSAGE_LINK = re.compile(r"https://(?:\w+\.)?discord(?:app)?\.com/channels/\d+/\d+/(\d+)")


async def job_id_from(bot: ImagineBot, job: str) -> int:
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
    relative = f"uploads/{path.name}"
    await asyncio.to_thread(bot.storage.publish_file, relative)  # S3: into the bucket, where workers fetch it
    return relative, (decoded.width, decoded.height)


async def _on_tile_or_upload(interaction: discord.Interaction, *, upscale: bool, job: str | None, tile: int | None,
                             image: discord.Attachment | None, strength: str | None, prompt: str | None,
                             denoise: float | None) -> None:
    bot = bot_of(interaction)
    origin = origin_of(interaction)
    if (job is None) == (image is None):
        raise UserError("Give either a job (and tile) or an image, not both and not neither.")
    async with PrivateReply(interaction) as reply:
        if image is not None:
            # Ban, channel profile, limits and quota first: a refused member costs no download, decode or write.
            await bot.submissions.precheck(origin, "upscale" if upscale else "vary")
            await reply.defer()  # a download and a decode: acknowledge first
            path, size = await _saved_upload(bot, interaction, image)
            g = bot.config.generation
            default = g.refine_strength if upscale else (g.img2img_strong if strength == "strong" else
                                                          g.img2img_subtle)
            enqueued = await bot.submissions.from_upload(origin, path, size, upscale=upscale,
                                                         prompt=(prompt or "").strip(),
                                                         strength=denoise if denoise is not None else default)
        else:
            job_id = await job_id_from(bot, job or "")
            if upscale:
                enqueued = await bot.submissions.upscale(origin, job_id, tile or 1)
            else:
                preferences = await bot.settings.get(interaction.guild_id, interaction.user.id)
                enqueued = await bot.submissions.vary(origin, job_id, tile or 1,
                                                      strong=None if strength is None else strength == "strong",
                                                      default_strong=preferences.variation == "strong")
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()


@app_commands.command(name="vary")
@app_commands.describe(job="A job id, or a link to a result message", tile="Which image of the grid (1-4)",
                       strength="How far the variations may wander (default: your /settings variation)",
                       image="Or: an image of your own (PNG, JPEG, WebP)",
                       prompt="With an image: what it should become",
                       denoise="With an image: how much to change (0.05-0.95)")
@app_commands.guild_only()
async def vary(interaction: discord.Interaction, job: str | None = None,
               tile: app_commands.Range[int, 1, 4] | None = None,
               strength: Literal["subtle", "strong"] | None = None, image: discord.Attachment | None = None,
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
