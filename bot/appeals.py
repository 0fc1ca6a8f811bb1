"""Appeals against the prompt filter: "Appeal" under a refusal, "Allow once" / "Keep blocked" for moderators.

All state lives in the database row of the refused prompt (db/safety.py); the buttons carry only its id, so they
work after any restart. Moderators are checked in code on every click (bot/moderators.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.errors import PromptBlocked, render
from bot.moderators import member_is_moderator, refuse_if_banned
from bot.replies import PrivateReply
from db.safety import APPEALS_PER_DAY, AppealRefused, BlockView

log = logging.getLogger(__name__)

APPEAL, ALLOW, KEEP = "appeal", "allow", "keep"
LABELS = {APPEAL: ("Appeal", discord.ButtonStyle.secondary), ALLOW: ("Allow once", discord.ButtonStyle.success),
          KEEP: ("Keep blocked", discord.ButtonStyle.danger)}


TEMPLATE = r"safety:(?P<action>appeal|allow|keep):(?P<block>[0-9]{1,19})"


class AppealButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """"Appeal" (the member), "Allow once" and "Keep blocked" (moderators) on one refused prompt."""

    def __init__(self, action: str, block_id: int) -> None:
        label, style = LABELS[action]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"safety:{action}:{block_id}"))
        self.action, self.block_id = action, block_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> AppealButton:
        """Rebuild from the custom_id alone."""
        return cls(match["action"], int(match["block"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """A banned member can't appeal (moderators are never refused here unless banned themselves)."""
        return await refuse_if_banned(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Appeal as the member, or answer the appeal as a moderator."""
        if self.action == APPEAL:
            await _appeal(interaction, self.block_id)
        else:
            await _answer(interaction, self.block_id, allow=self.action == ALLOW)


def refusal_view(error: BaseException, client: discord.Client) -> discord.ui.View | None:
    """The "Appeal" button under a blocked prompt's refusal, when there is a moderator log channel to appeal to."""
    if not isinstance(error, PromptBlocked) or error.block_id is None:
        return None
    if not client.config.moderation.log_channel_id:  # type: ignore[attr-defined]
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(AppealButton(APPEAL, error.block_id))
    return view


def appeal_text(block: BlockView) -> str:
    """The moderators' view of an appeal: who, where, which rule, and the prompt."""
    where = f"<#{block.channel_id}>" if block.guild_id else "a direct message"
    prompt = discord.utils.escape_markdown(block.prompt[:1500])
    return (f"**Appeal** from <@{block.user_id}> in {where} (prompt blocked by {block.rule}):\n>>> {prompt}")


async def _appeal(interaction: discord.Interaction, block_id: int) -> None:
    bot = interaction.client
    async with PrivateReply(interaction) as reply:
        try:
            block = await bot.submissions.safety.appeal(block_id, interaction.user.id)  # type: ignore[attr-defined]
        except AppealRefused as exc:
            await reply.send(str(exc))
            return
        except Exception as exc:  # rendered in one place
            await reply.send(render(exc))
            return
        view = discord.ui.View(timeout=None)
        view.add_item(AppealButton(ALLOW, block.id))
        view.add_item(AppealButton(KEEP, block.id))
        posted = await bot.modlog.post(appeal_text(block), view=view)  # type: ignore[attr-defined]
        if posted is None:
            await bot.submissions.safety.withdraw_appeal(block.id)  # type: ignore[attr-defined]
            await reply.send("Your appeal could not reach the moderators right now; please try again later.")
            return
        await reply.send(f"Your appeal was sent to the moderators (at most {APPEALS_PER_DAY} a day). You'll hear "
                         "back here if they allow the prompt.")


async def _answer(interaction: discord.Interaction, block_id: int, *, allow: bool) -> None:
    bot = interaction.client
    safety = bot.submissions.safety  # type: ignore[attr-defined]
    if not member_is_moderator(interaction, bot.config.moderation):  # type: ignore[attr-defined]
        await interaction.response.send_message("Only moderators can answer appeals.", ephemeral=True)
        return
    block = await safety.block(block_id)
    if block is None or block.decision is not None:
        await interaction.response.send_message("This appeal was already answered.", ephemeral=True)
        return
    if not allow:
        decided = await safety.decide(block_id, interaction.user.id, "kept")
        if decided is None:
            await interaction.response.send_message("This appeal was already answered.", ephemeral=True)
            return
        await interaction.response.edit_message(
            content=f"{appeal_text(block)}\nKept blocked by <@{interaction.user.id}>.", view=None,
            allowed_mentions=discord.AllowedMentions.none())
        return
    await interaction.response.defer()  # queueing touches the database: acknowledge first
    # The click's own id makes the enqueue idempotent; the decision is taken once, by whoever queued first.
    try:
        from bot.holds import channel_facts  # here: bot.holds -> posting -> buttons -> commands -> this module

        where = bot.get_channel(block.channel_id)
        enqueued = await bot.submissions.allow_once(  # type: ignore[attr-defined]
            block, interaction.id, channel=channel_facts(where) if where is not None else None)
    except Exception as exc:  # a limit, a ban or a busy database: rendered in one place
        await interaction.followup.send(f"Nothing was queued: {render(exc)}", ephemeral=True)
        return
    decided = await safety.decide(block_id, interaction.user.id, "allowed", job_id=enqueued.job.id)
    if decided is None:  # another moderator answered meanwhile: this click's job must not run
        await bot.queue.cancel(enqueued.job.id, block.user_id)  # type: ignore[attr-defined]
        await interaction.followup.send("This appeal was already answered.", ephemeral=True)
        return
    bot.notify_new_job()  # type: ignore[attr-defined]
    await interaction.edit_original_response(
        content=f"{appeal_text(block)}\nAllowed once by <@{interaction.user.id}>: job #{enqueued.job.id}.",
        view=None, allowed_mentions=discord.AllowedMentions.none())
    await _tell_member(bot, block, enqueued.job.id)


async def _tell_member(bot: Any, block: BlockView, job_id: int) -> None:
    """Tell the member, where they asked, that their prompt was allowed and queued (mentioning only them)."""
    try:
        channel = bot.get_channel(block.channel_id) or await bot.fetch_channel(block.channel_id)
        await channel.send(f"<@{block.user_id}> a moderator allowed your blocked prompt once: it is queued as "
                           f"job #{job_id}, and the result will be posted here.",
                           allowed_mentions=discord.AllowedMentions(everyone=False, roles=False,
                                                                    users=[discord.Object(block.user_id)]))
    except discord.HTTPException as exc:
        log.warning("could not tell member %s that appeal %s was allowed: %s", block.user_id, block.id, exc)
