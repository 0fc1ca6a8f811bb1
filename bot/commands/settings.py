"""/settings: a member's defaults for their own jobs (aspect, variation strength, suffix, Remix, results by DM)."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands

from bot.commands.context import bot_of
from bot.preferences import MAX_SUFFIX, check_aspect, check_suffix, settings_text
from bot.replies import PrivateReply

CLEAR = ("none", "default", "off")  # what a member types to drop an aspect or a suffix


@app_commands.command(name="settings")
@app_commands.describe(aspect="Default aspect ratio W:H for /imagine, e.g. 16:9 (none: back to the default)",
                       variation="What V buttons and /vary make by default: subtle or strong variations",
                       suffix="Words and flags added to every prompt, e.g. watercolor --s 250 (none: remove)",
                       remix="On: V buttons and re-roll let you edit the prompt first",
                       dm_results="On: your finished results also come to you by direct message")
@app_commands.guild_only()
async def settings(interaction: discord.Interaction, aspect: app_commands.Range[str, 1, 16] | None = None,
                   variation: Literal["subtle", "strong"] | None = None,
                   suffix: app_commands.Range[str, 1, MAX_SUFFIX] | None = None, remix: bool | None = None,
                   dm_results: bool | None = None) -> None:
    """Your defaults; without options, shows them. Flags in a prompt always win."""
    bot = bot_of(interaction)
    changes: dict[str, Any] = {}
    if aspect is not None:
        changes["aspect"] = None if aspect.strip().lower() in CLEAR else check_aspect(aspect, bot.prompt_defaults)
    if variation is not None:
        changes["variation"] = variation
    if suffix is not None:
        cleared = suffix.strip().lower() in CLEAR
        changes["suffix"] = "" if cleared else check_suffix(suffix, bot.prompt_defaults, bot.submissions.check_words)
    if remix is not None:
        changes["remix"] = remix
    if dm_results is not None:
        changes["dm_results"] = dm_results
    async with PrivateReply(interaction) as reply:
        if changes:
            preferences = await bot.settings.update(interaction.guild_id, interaction.user.id, **changes)
        else:
            preferences = await bot.settings.get(interaction.guild_id, interaction.user.id)
        await reply.send(("Saved.\n" if changes else "") + settings_text(preferences))
