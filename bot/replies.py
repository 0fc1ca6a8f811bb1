"""Private replies that always meet Discord's 3-second acknowledgement window, however slow the work is."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

# Discord drops an interaction not acknowledged within 3 s; defer a little before, leaving time for the request.
ACK_BUDGET_S = 2.0


class PrivateReply:
    """`async with PrivateReply(interaction) as reply:` ... `await reply.send(text)`.

    If the work inside takes longer than ACK_BUDGET_S (a locked database, a slow download), the interaction is
    deferred ("thinking…") and the text arrives as the follow-up. A lock keeps the deferral and the reply from
    racing each other, so the interaction is acknowledged exactly once.
    """

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self._lock = asyncio.Lock()
        self._finished = False
        self._guard: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PrivateReply:
        self._guard = asyncio.create_task(self._defer_later())
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._finished = True
        async with self._lock:  # a deferral already under way completes before errors are rendered
            pass
        if self._guard is not None:
            self._guard.cancel()
            await asyncio.gather(self._guard, return_exceptions=True)

    async def _defer_later(self) -> None:
        await asyncio.sleep(ACK_BUDGET_S)
        await self.defer()

    async def defer(self) -> None:
        """Acknowledge now (privately, "thinking…"), unless something already answered."""
        async with self._lock:
            if not self._finished and not self.interaction.response.is_done():
                await self.interaction.response.defer(ephemeral=True, thinking=True)

    async def send(self, text: str, *, view: discord.ui.View | None = None) -> None:
        """The answer: the response itself, or the follow-up after a deferral (with buttons, if given)."""
        extra = {} if view is None else {"view": view}
        async with self._lock:
            if self.interaction.response.is_done():
                await self.interaction.followup.send(text, ephemeral=True, **extra)
            else:
                await self.interaction.response.send_message(text, ephemeral=True, **extra)
