"""/help: every command, the prompt flags and the buttons, in one private message."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.commands.context import bot_of

# The prompt flags, one line each; docs/PROMPTS.md has every value range and what each flag does.
FLAGS = (
    ("--ar W:H", "aspect ratio, 1:4 to 4:1"),
    ("--seed N", "base seed, 0 to 4294967295; tile i uses N+i-1"),
    ("--no a, b", "what to keep out (negative prompt)"),
    ("--chaos 0-100", "how different the four tiles are"),
    ("--stylize 0-1000", "how freely the prompt is read"),
    ("--quality 0.25-2", "more or fewer steps"),
    ("--steps N", "denoising steps"),
    ("--tile", "seamless, repeating image"),
    ("--sampler NAME", "the sampler (A1111's name or id)"),
    ("--fast", "a quick draft with the server's few-step model"),
)

# The buttons under results and status messages, by label.
BUTTONS = (
    ("U1-U4", "that image at twice the size, refined"),
    ("V1-V4", "four variations of that image"),
    ("\N{ANTICLOCKWISE DOWNWARDS AND UPWARDS OPEN CIRCLE ARROWS}", "the same prompt with new seeds"),
    ("Vary (Subtle), Vary (Strong), Upscale 2x", "under a single image"),
    ("Enhance 1-Enhance 4", "under a fast grid: that image again with the full model"),
    ("Vary (Region), Custom Zoom", "under a single image: repaint an area; zoom out by your factor"),
    ("Zoom Out 2x, Zoom Out 1.5x, Make Square", "under a single image: paint a border; square it"),
    ("\u2b05\ufe0f, \u27a1\ufe0f, \u2b06\ufe0f, \u2b07\ufe0f", "extend a single image by half a side"),
    ("Info", "the job's full settings and an /imagine line that makes it again"),
    ("Delete", "remove the result (its owner and moderators)"),
    ("Cancel", "under a status message: stop the job (its owner and moderators)"),
    ("Appeal", "under a blocked prompt: ask the moderators to allow it once"),
)

PROMPT_REFERENCE = "docs/PROMPTS.md"
HELP_LIMIT = 4096  # an embed description's limit


def _command_lines(tree: app_commands.CommandTree) -> list[str]:
    """`/name option option: description` for every command the tree holds, subcommands included."""
    lines = []
    for command in sorted(tree.get_commands(type=discord.AppCommandType.chat_input), key=lambda c: c.name):
        subcommands = getattr(command, "commands", None)
        if subcommands:  # a group: one line per subcommand
            for sub in sorted(command.walk_commands(), key=lambda c: c.qualified_name):
                if isinstance(sub, app_commands.Command):
                    lines.append(_line(sub))
        elif isinstance(command, app_commands.Command):
            lines.append(_line(command))
    return lines


def _line(command: app_commands.Command) -> str:
    options = " ".join(p.name if p.required else f"[{p.name}]" for p in command.parameters)
    usage = f"/{command.qualified_name} {options}".rstrip()
    return f"`{usage}`: {command.description}"


def help_text(tree: app_commands.CommandTree, prompts_url: str = "") -> str:
    """The /help message: commands (from the tree, so it never drifts), flags, buttons and the reference."""
    reference = prompts_url or f"{PROMPT_REFERENCE} in the bot's source"
    parts = [
        "**Commands**", *_command_lines(tree),
        "", "**Prompt flags** (at the end of a prompt, e.g. `a lighthouse --ar 16:9 --seed 42`)",
        " · ".join(f"`{flag}` {what}" for flag, what in FLAGS),
        "", "**Buttons**", *(f"**{label}**: {what}" for label, what in BUTTONS),
        "", f"Every flag with its range: {reference}",
    ]
    return "\n".join(parts)


@app_commands.command(name="help")
async def help_command(interaction: discord.Interaction) -> None:
    """Commands, prompt flags and buttons, privately."""
    bot = bot_of(interaction)
    # An embed: its description holds 4096 characters, twice a message's, and the command list keeps growing.
    text = help_text(bot.tree)
    embed = discord.Embed(title="imagine-bot: four images per prompt",
                          description=text if len(text) <= HELP_LIMIT else text[:HELP_LIMIT - 1] + "…")
    await interaction.response.send_message(embed=embed, ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())
