"""/imagine: four images from a prompt, optionally with one of the server's models."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands.context import bot_of, origin_of, queued_text
from bot.errors import UserError
from bot.fast_jobs import fast_name, make_fast
from bot.preferences import with_preferences
from bot.replies import PrivateReply
from generation.prompt_params import parse_prompt

if TYPE_CHECKING:
    from bot.client import ImagineBot


@app_commands.command(name="imagine")
@app_commands.describe(prompt="What to draw. Flags go at the end: --ar 16:9 --no text --seed 42 --chaos 30 --q 2",
                       model="Which of this server's models to use (default: the server's default model)")
@app_commands.guild_only()
async def imagine(interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 1500],
                  model: app_commands.Range[str, 1, 32] | None = None) -> None:
    """Generate four images from a prompt."""
    bot = bot_of(interaction)
    async with PrivateReply(interaction) as reply:
        # The member's /settings fill in what the prompt leaves out (its own flags win).
        preferences = await bot.settings.get(interaction.guild_id, interaction.user.id)
        spec = parse_prompt(with_preferences(prompt, preferences), bot.prompt_defaults)
        if spec.sampler == "default":  # no --sampler flag: the operator's configured sampler
            spec = dataclasses.replace(spec, sampler=bot.config.generation.sampler)
        request = spec.to_request(base_seed=bot.submissions.seed(), model=_model_id(bot, model))
        fast = model if model in bot.config.fast_models else None
        if spec.fast:
            if model is not None and fast is None:
                raise UserError(f"--fast uses the server's fast model; leave out model:{model} or drop --fast.")
            fast = fast or fast_name(bot.config)
        if fast is not None:
            request = make_fast(bot.config, request, fast)
        enqueued = await bot.submissions.imagine(origin_of(interaction), request)
        await reply.send(queued_text(enqueued))
    bot.notify_new_job()


def _model_id(bot: ImagineBot, name: str | None) -> str:
    """The hub id or folder behind a model name members pick; the default model without one."""
    if name is None:
        return bot.config.model.default
    if name in bot.config.fast_models:
        return bot.config.fast_models[name].model
    choices = bot.config.model.choices
    if name not in choices:
        known = ", ".join(sorted([*choices, *bot.config.fast_models])) or "none are configured"
        raise UserError(f"There is no model {name!r} on this server; choose one of: {known}.")
    return choices[name]


@imagine.autocomplete("model")
async def _model_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Offer the configured model names that match what the member typed."""
    config = bot_of(interaction).config
    names = sorted([*config.model.choices, *config.fast_models])
    return [app_commands.Choice(name=name, value=name) for name in names if current.lower() in name][:25]
