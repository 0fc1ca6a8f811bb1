"""Vary (Region) and Custom Zoom: a button under an upscaled image opens an edit box; its submission queues a grid.

As with Remix, the box's whole state is in its custom_id (`imagine:region:<job_id>`, `imagine:zoom:<job_id>`) and
submissions are handled from the client's on_interaction, so a box opened before a restart still works after it.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.commands.context import bot_of, origin_of, queued_text
from bot.errors import UserError, render
from bot.moderators import refuse_if_banned
from bot.remix_modal import submission_of, submitted_values
from bot.replies import PrivateReply
from generation.canvas import parse_region

TEMPLATE = re.compile(r"imagine:(?P<kind>region|zoom):(?P<job>[0-9]{1,19})")
REGION_INPUT, FACTOR_INPUT, PROMPT_INPUT = "region", "factor", "prompt"
REGION, ZOOM = "region", "zoom"


class CanvasModal(discord.ui.Modal):
    """Vary (Region): the area and an optional new prompt. Custom Zoom: the factor and an optional new prompt."""

    def __init__(self, kind: str, job_id: int, prompt: str, max_length: int) -> None:
        title = f"Vary (Region) of job #{job_id}" if kind == REGION else f"Custom Zoom of job #{job_id}"
        super().__init__(title=title[:45], custom_id=f"imagine:{kind}:{job_id}")
        if kind == REGION:
            self.add_item(discord.ui.TextInput(label="Region: a preset or x,y,w,h in percent", custom_id=REGION_INPUT,
                                               placeholder="left, right, top, bottom, centre, or 10,20,50,40",
                                               default="centre", max_length=40))
        else:
            self.add_item(discord.ui.TextInput(label="Zoom out by (1.0 to 2.0)", custom_id=FACTOR_INPUT,
                                               default="1.5", max_length=8))
        self.add_item(discord.ui.TextInput(label="Prompt (leave as is to keep it)", style=discord.TextStyle.paragraph,
                                           custom_id=PROMPT_INPUT, default=prompt[:max_length], max_length=max_length,
                                           required=False))


async def open_canvas(interaction: discord.Interaction[Any], kind: str, job_id: int) -> None:
    """Answer the click with the edit box, or privately say why this job can't be used."""
    bot = bot_of(interaction)
    job = await bot.queue.get(job_id)
    if job is None or job.guild_id != interaction.guild_id or job.status != "succeeded":
        async with PrivateReply(interaction) as reply:
            await reply.send(f"Job #{job_id} has no image to work on here.")
        return
    modal = CanvasModal(kind, job_id, job.prompt, bot.prompt_defaults.max_prompt_chars)
    await interaction.response.send_modal(modal)
    modal.stop()  # submissions come back through on_interaction (see the module docstring)


def _factor(text: str) -> float:
    try:
        factor = float(text.strip())
    except ValueError:
        raise UserError(f"The zoom factor must be a number from 1.0 to 2.0, got {text!r}.") from None
    if not 1.0 < factor <= 2.0:
        raise UserError(f"The zoom factor must be above 1.0 and at most 2.0, got {text!r}.")
    return factor


async def submit_canvas(interaction: discord.Interaction[Any]) -> bool:
    """Queue the grid of a submitted Vary (Region) or Custom Zoom box; False when the interaction is not one of ours."""
    if (match := submission_of(interaction, TEMPLATE)) is None:
        return False
    if not await refuse_if_banned(interaction):
        return True
    bot = bot_of(interaction)
    job_id, values = int(match["job"]), submitted_values(interaction.data)
    async with PrivateReply(interaction) as reply:
        try:
            job = await bot.queue.get(job_id)
            prompt = values.get(PROMPT_INPUT, "").strip()
            prompt = None if job is None or prompt == job.prompt else prompt
            if match["kind"] == REGION:
                region = parse_region(values.get(REGION_INPUT, ""))
                enqueued = await bot.submissions.vary_region(origin_of(interaction), job_id, region, prompt)
            else:
                factor = _factor(values.get(FACTOR_INPUT, ""))
                enqueued = await bot.submissions.outpaint(origin_of(interaction), job_id, "zoom", factor=factor,
                                                          prompt=prompt)
        except Exception as exc:  # every domain error is rendered in one place
            await reply.send(render(exc))
            return True
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()
    return True
