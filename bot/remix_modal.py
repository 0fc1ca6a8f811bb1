"""The Remix edit box: opened by V buttons and re-roll for members with Remix on, submitted into a child job.

The modal's whole state is in its custom_id (`imagine:remix:<action>:<job_id>:<tile>`), and submissions are handled
from the client's on_interaction rather than discord.py's in-memory modal store, so an edit box opened before a
restart still queues its job after it.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.appeals import refusal_view
from bot.commands.context import bot_of, origin_of, queued_text
from bot.errors import render
from bot.fast_jobs import fast_model_of
from bot.moderators import refuse_if_banned
from bot.remix import check_variation_edit, prefill
from bot.replies import PrivateReply
from generation.prompt_params import parse_prompt
from generation.requests import GenerationRequest

TEMPLATE = re.compile(r"imagine:remix:(?P<action>v|vs|r):(?P<job>[0-9]{1,19}):(?P<tile>[0-4])")
PROMPT_INPUT = "prompt"
REROLL, VARY_STRONG = "r", "vs"


class RemixModal(discord.ui.Modal):
    """One text box, prefilled with the prompt and its flags."""

    def __init__(self, action: str, job_id: int, tile: int, text: str, max_length: int) -> None:
        what = f"re-roll of job #{job_id}" if action == REROLL else f"variations of job #{job_id}"
        super().__init__(title=f"Remix: {what}"[:45], custom_id=f"imagine:remix:{action}:{job_id}:{tile}")
        self.add_item(discord.ui.TextInput(label="Prompt (with flags)", style=discord.TextStyle.paragraph,
                                           custom_id=PROMPT_INPUT, default=text[:max_length], max_length=max_length))


async def open_remix(interaction: discord.Interaction[Any], action: str, job_id: int, tile: int) -> bool:
    """Answer the click with the edit box; False (nothing sent) when the job can't be remixed, so the click goes on."""
    bot = bot_of(interaction)
    job = await bot.queue.get(job_id)
    if job is None or job.guild_id != interaction.guild_id or job.status != "succeeded":
        return False  # the ordinary path explains what is wrong
    request = GenerationRequest.from_dict(job.params)
    text = prefill(request, variation=action != REROLL, default_guidance=bot.prompt_defaults.guidance_scale,
                   fast=fast_model_of(bot.config, request) is not None)
    modal = RemixModal(action, job_id, tile, text, bot.prompt_defaults.max_prompt_chars)
    await interaction.response.send_modal(modal)
    modal.stop()  # submissions come back through on_interaction (see the module docstring)
    return True


def submitted_values(data: Any) -> dict[str, str]:
    """custom_id -> value of the text inputs in a MODAL_SUBMIT, in action rows (type 1) or labels (type 18)."""
    values = {}
    for top in (data or {}).get("components", []):
        inner = [top["component"]] if "component" in top else top.get("components", [])
        for component in inner:
            if "custom_id" in component and "value" in component:
                values[component["custom_id"]] = component["value"]
    return values


def submission_of(interaction: discord.Interaction[Any], template: re.Pattern[str]) -> re.Match[str] | None:
    """The custom_id match of a MODAL_SUBMIT made by one of our boxes with this template, else None."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    return template.fullmatch(str((interaction.data or {}).get("custom_id", "")))


async def submit_remix(interaction: discord.Interaction[Any]) -> bool:
    """Queue the child job of a submitted edit box; False when the interaction is not one of ours."""
    if (match := submission_of(interaction, TEMPLATE)) is None:
        return False
    if not await refuse_if_banned(interaction):
        return True
    bot = bot_of(interaction)
    action, job_id, tile = match["action"], int(match["job"]), int(match["tile"])
    text = submitted_values(interaction.data).get(PROMPT_INPUT, "")
    async with PrivateReply(interaction) as reply:
        try:
            if action == REROLL:
                spec = parse_prompt(text, bot.prompt_defaults)
                enqueued = await bot.submissions.remix_reroll(origin_of(interaction), job_id, spec)
            else:
                check_variation_edit(text)
                spec = parse_prompt(text, bot.prompt_defaults)
                preferences = await bot.settings.get(interaction.guild_id, interaction.user.id)
                enqueued = await bot.submissions.vary(origin_of(interaction), job_id, tile,
                                                      strong=True if action == VARY_STRONG else None,
                                                      default_strong=preferences.variation == "strong", edit=spec)
        except Exception as exc:  # every domain error is rendered in one place
            await reply.send(render(exc), view=refusal_view(exc, bot))
            return True
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()
    return True


__all__ = ["RemixModal", "open_remix", "submission_of", "submit_remix", "submitted_values"]
