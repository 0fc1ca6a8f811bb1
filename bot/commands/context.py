"""What every command and click handler takes from an interaction, and how it says "queued"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.facts import origin_of
from db.queue import Enqueued

if TYPE_CHECKING:
    from bot.client import ImagineBot

__all__ = ["bot_of", "origin_of", "queued_text"]  # origin_of lives in bot/facts.py; handlers import it from here


def bot_of(interaction: discord.Interaction) -> ImagineBot:
    """The ImagineBot that received this interaction (with its queue, config and submissions)."""
    return interaction.client  # type: ignore[return-value]


def queued_text(enqueued: Enqueued) -> str:
    """`Queued as job #12: position 3, about 40 s.`"""
    job = enqueued.job
    if not enqueued.created:
        return f"That was already queued as job #{job.id} ({job.status})."
    eta = f", about {max(1, round(enqueued.eta_seconds))} s" if enqueued.eta_seconds is not None else ""
    return f"Queued as job #{job.id}: position {enqueued.position}{eta}. The result will be posted in this channel."
