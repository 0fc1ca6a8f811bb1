"""The moderator log channel: one line per moderator action, never pinging anyone (also used for appeals)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import discord

from db.moderation import AuditEntry

log = logging.getLogger(__name__)

# What each audited action reads as: "<moderator> banned <member>".
VERBS = {
    "ban": "banned", "unban": "lifted the ban on", "cancel": "cancelled a job of", "purge": "purged the waiting jobs of",
    "quota_set": "set the daily quota of", "quota_grant": "granted extra quota to", "quota_reset": "reset the quota of",
}


def stamp(when: datetime, style: str = "f") -> str:
    """A Discord timestamp (`<t:UNIX:f>`), shown in each reader's own time zone."""
    return f"<t:{int(when.timestamp())}:{style}>"


def describe(entry: AuditEntry) -> str:
    """One audit entry as a line: when, who, what, whom, the details and the reason."""
    verb = VERBS.get(entry.action, entry.action.replace("_", " "))
    whom = f" <@{entry.target_user_id}>" if entry.target_user_id else ""
    parts = [f"{stamp(entry.created_at)} <@{entry.moderator_id}> {verb}{whom}"]
    if entry.job_id is not None:
        parts.append(f"job #{entry.job_id}")
    details = entry.details
    if entry.action == "ban":
        until = details.get("expires_at")
        parts.append(f"until {stamp(datetime.fromisoformat(until))}" if until else "until unbanned")
    if details.get("cancelled_jobs"):
        parts.append("cancelled " + ", ".join(f"#{job}" for job in details["cancelled_jobs"]))
    for key in ("images_per_day", "gpu_seconds_per_day", "images", "gpu_seconds"):
        if key in details:
            parts.append(f"{key.replace('_', ' ')} {details[key]:g}")
    line = " · ".join(parts)
    if entry.reason:
        line += f": {discord.utils.escape_markdown(entry.reason)}"
    return line


class ModLog:
    """Posts to `moderation.log_channel_id` when it is set; a failed post is logged and never undoes an action."""

    def __init__(self, client: discord.Client, channel_id: int) -> None:
        self.client, self.channel_id = client, channel_id

    @property
    def enabled(self) -> bool:
        """Whether a log channel is configured."""
        return self.channel_id != 0

    async def post(self, content: str, *, view: discord.ui.View | None = None,
                   files: Sequence[discord.File] = ()) -> discord.Message | None:
        """Send a message to the log channel with every mention disabled; None when disabled or it failed."""
        if not self.enabled:
            return None
        try:
            channel = self.client.get_channel(self.channel_id) or await self.client.fetch_channel(self.channel_id)
            kwargs = {"view": view} if view is not None else {}
            return await channel.send(content[:2000], files=list(files), allowed_mentions=discord.AllowedMentions.none(),
                                      **kwargs)  # type: ignore[union-attr]
        except (discord.HTTPException, discord.InvalidData, AttributeError) as exc:
            log.warning("could not post to the moderator log channel %s: %s", self.channel_id, exc)
            return None

    async def action(self, entry: AuditEntry) -> discord.Message | None:
        """Post one audited action."""
        return await self.post(describe(entry))
