"""Buttons under results. Their whole state lives in the custom_id, so every button works after any restart."""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.cancelling import cancel_job
from bot.canvas_modal import REGION, ZOOM, open_canvas
from bot.commands.context import bot_of, origin_of, queued_text
from bot.errors import UnknownJob, render
from bot.fast_jobs import fast_model_of
from bot.job_info import info_text, reproduce
from bot.moderators import member_is_moderator, refuse_if_banned
from bot.remix_modal import open_remix
from bot.replies import PrivateReply
from generation.requests import GenerationRequest

log = logging.getLogger(__name__)

# Actions a button can carry; the custom_id is `imagine:<action>:<job_id>:<tile>` (well under Discord's 100).
UPSCALE = "u"
VARY_SUBTLE = "v"
VARY_STRONG = "vs"
REROLL = "r"
INFO = "i"
DELETE = "d"
CANCEL = "c"
ENHANCE = "e"  # fast grids: re-render one tile with the full model from the same seed
# Under an upscaled image: paint around it (generation.canvas); action -> (operation, label).
OUTPAINT = {"z2": ("zoom2", "Zoom Out 2x"), "z15": ("zoom1.5", "Zoom Out 1.5x"), "sq": ("square", "Make Square"),
            "pl": ("pan_left", "\u2b05\ufe0f"), "pr": ("pan_right", "\u27a1\ufe0f"),
            "pu": ("pan_up", "\u2b06\ufe0f"), "pd": ("pan_down", "\u2b07\ufe0f")}
# ... and the two that first open an edit box (bot.canvas_modal).
VARY_REGION, CUSTOM_ZOOM = "vr", "zc"
ACTIONS = (UPSCALE, VARY_SUBTLE, VARY_STRONG, REROLL, INFO, DELETE, CANCEL, ENHANCE, *OUTPAINT, VARY_REGION,
           CUSTOM_ZOOM)


def custom_id(action: str, job_id: int, tile: int) -> str:
    """The custom_id for one button; parsed back by JobButton's template."""
    if action not in ACTIONS:
        raise ValueError(f"unknown button action {action!r}")
    return f"imagine:{action}:{job_id}:{tile}"


TEMPLATE = r"imagine:(?P<action>u|vs|vr|v|r|i|d|c|e|z2|z15|zc|sq|pl|pr|pu|pd):(?P<job>[0-9]{1,19}):(?P<tile>[0-4])"


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """One U/V/re-roll button: which action, on which job, on which tile."""

    def __init__(self, action: str, job_id: int, tile: int, *, label: str | None = None,
                 emoji: str | None = None, style: discord.ButtonStyle = discord.ButtonStyle.secondary,
                 row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, row=row,
                                           custom_id=custom_id(action, job_id, tile)))
        self.action, self.job_id, self.tile = action, job_id, tile

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> JobButton:
        """Rebuild the button from its custom_id; nothing else is needed."""
        return cls(match["action"], int(match["job"]), int(match["tile"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """A banned member's click is refused, privately, even on a button posted before the ban."""
        return await refuse_if_banned(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Queue the child job this button stands for and tell the clicker privately."""
        if self.action == INFO:
            await _show_info(interaction, self.job_id)
            return
        if self.action == DELETE:
            await _delete_result(interaction, self.job_id)
            return
        if self.action == CANCEL:
            async with PrivateReply(interaction) as reply:
                try:
                    await reply.send(await cancel_job(bot_of(interaction), interaction, self.job_id))
                except Exception as exc:  # every domain error is rendered in one place
                    await reply.send(render(exc))
            return
        bot = bot_of(interaction)
        origin = origin_of(interaction)
        preferences = None
        if self.action in OUTPAINT:
            await _outpaint(interaction, self.job_id, OUTPAINT[self.action][0])
            return
        if self.action in (VARY_REGION, CUSTOM_ZOOM):
            await open_canvas(interaction, REGION if self.action == VARY_REGION else ZOOM, self.job_id)
            return
        if self.action != UPSCALE:
            # A read transaction: it never waits for the write lock, so the edit box still opens within 3 s.
            preferences = await bot.settings.get(interaction.guild_id, interaction.user.id)
            if preferences.remix and await open_remix(interaction, self.action, self.job_id, self.tile):
                return
        async with PrivateReply(interaction) as reply:
            try:
                if self.action == REROLL:
                    enqueued = await bot.submissions.reroll(origin, self.job_id)
                elif self.action == UPSCALE:
                    enqueued = await bot.submissions.upscale(origin, self.job_id, self.tile)
                elif self.action == ENHANCE:
                    enqueued = await bot.submissions.enhance(origin, self.job_id, self.tile)
                else:  # V1-V4 follow the member's /settings variation; Vary (Strong) is always strong
                    enqueued = await bot.submissions.vary(
                        origin, self.job_id, self.tile, strong=True if self.action == VARY_STRONG else None,
                        default_strong=preferences is not None and preferences.variation == "strong")
            except Exception as exc:  # every domain error is rendered in one place
                await reply.send(render(exc))
                return
            await reply.send(queued_text(enqueued))
        bot.notify_new_job()


async def _outpaint(interaction: discord.Interaction[Any], job_id: int, operation: str) -> None:
    """Zoom Out, Pan or Make Square: queue the grid painted around the image and tell the clicker privately."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        try:
            enqueued = await bot.submissions.outpaint(origin_of(interaction), job_id, operation)
        except Exception as exc:  # every domain error is rendered in one place
            await reply.send(render(exc))
            return
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()


async def _show_info(interaction: discord.Interaction[Any], job_id: int) -> None:
    """Privately: the job's full parameters and an /imagine line that makes it again."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        job = await bot.queue.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await reply.send(render(UnknownJob(f"There is no job #{job_id} on this server.")))
            return
        request = GenerationRequest.from_dict(job.params)
        line = reproduce(request, bot.prompt_defaults, bot.config.model.choices, bot.config.model.default,
                         fast=fast_model_of(bot.config, request), fast_default=bot.config.model.fast)
        await reply.send(info_text(job, request, line))


async def _delete_result(interaction: discord.Interaction[Any], job_id: int) -> None:
    """Remove the message this button is on, for the job's owner and moderators; the job's record stays."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        job = await bot.queue.get(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await reply.send(render(UnknownJob(f"There is no job #{job_id} on this server.")))
            return
        if job.user_id != interaction.user.id and not member_is_moderator(interaction, bot.config.moderation):
            await reply.send(f"Only the member who asked for job #{job_id} and moderators can delete it.")
            return
        if interaction.message is not None:
            await interaction.message.delete()
        log.info("job %s: result message deleted by %s", job_id, interaction.user.id)
        await reply.send(f"Deleted the result of job #{job_id}.")


def _result_row(view: discord.ui.View, job_id: int, row: int) -> None:
    """Info and Delete, under every result."""
    view.add_item(JobButton(INFO, job_id, 0, label="Info", row=row))
    view.add_item(JobButton(DELETE, job_id, 0, label="Delete", style=discord.ButtonStyle.danger, row=row))


def status_view(job_id: int) -> discord.ui.View:
    """Cancel, under a waiting or running job's status message (its owner and moderators may use it)."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(CANCEL, job_id, 0, label="Cancel", style=discord.ButtonStyle.secondary))
    return view


def grid_view(job_id: int, enhance: bool = False) -> discord.ui.View:
    """U1-U4, V1-V4 and re-roll under a 2x2 grid; under a fast grid also Enhance 1-4."""
    view = discord.ui.View(timeout=None)
    for tile in range(1, 5):
        view.add_item(JobButton(UPSCALE, job_id, tile, label=f"U{tile}", row=0))
    view.add_item(JobButton(REROLL, job_id, 0, emoji="\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS}",
                            row=0))
    for tile in range(1, 5):
        view.add_item(JobButton(VARY_SUBTLE, job_id, tile, label=f"V{tile}", row=1))
    if enhance:
        for tile in range(1, 5):
            view.add_item(JobButton(ENHANCE, job_id, tile, label=f"Enhance {tile}", row=2))
    _result_row(view, job_id, row=3 if enhance else 2)
    return view


def single_view(job_id: int, can_upscale: bool, square: bool = True) -> discord.ui.View:
    """Vary (Subtle/Strong/Region), Upscale 2x (below the size cap), Zoom Out, Make Square (if not square), Pan."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(VARY_SUBTLE, job_id, 1, label="Vary (Subtle)", emoji="\N{SPARKLES}"))
    view.add_item(JobButton(VARY_STRONG, job_id, 1, label="Vary (Strong)", emoji="\N{SPARKLES}"))
    if can_upscale:
        view.add_item(JobButton(UPSCALE, job_id, 1, label="Upscale 2x", emoji="\N{LEFT-POINTING MAGNIFYING GLASS}"))
    view.add_item(JobButton(VARY_REGION, job_id, 1, label="Vary (Region)", emoji="\N{SPARKLES}"))
    view.add_item(JobButton("z2", job_id, 1, label=OUTPAINT["z2"][1], row=1))
    view.add_item(JobButton("z15", job_id, 1, label=OUTPAINT["z15"][1], row=1))
    view.add_item(JobButton(CUSTOM_ZOOM, job_id, 1, label="Custom Zoom", row=1))
    if not square:
        view.add_item(JobButton("sq", job_id, 1, label=OUTPAINT["sq"][1], row=1))
    for action in ("pl", "pr", "pu", "pd"):
        view.add_item(JobButton(action, job_id, 1, label=OUTPAINT[action][1], row=2))
    _result_row(view, job_id, row=3)
    return view
