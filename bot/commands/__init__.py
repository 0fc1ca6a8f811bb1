"""Slash commands, one module per family; each command's docstring is its Discord description."""

from bot.commands.account import info, quota
from bot.commands.help import help_command
from bot.commands.imagine import imagine
from bot.commands.jobs import cancel
from bot.commands.mod import mod
from bot.commands.settings import settings
from bot.commands.show import show
from bot.commands.tree import ImagineTree
from bot.commands.variations import upscale, vary

ALL_COMMANDS = (imagine, vary, upscale, cancel, help_command, mod, settings, show, quota, info)

__all__ = ["ALL_COMMANDS", "ImagineTree"]
