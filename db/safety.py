"""Content safety in the database: refused prompts and their appeals, and results held for a moderator.

Every moderator answer (allow once, keep blocked, release, delete) is decided once, by one conditional UPDATE,
and written to the audit trail in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.fairness import JOBS
from db.models import JobKind, NsfwHold, PromptBlock
from db.moderation import record_action
from db.queue import utcnow
from db.transactions import Transactions

BLOCKS: Table = PromptBlock.__table__  # type: ignore[assignment]
HOLDS: Table = NsfwHold.__table__  # type: ignore[assignment]
APPEALS_PER_DAY = 5
APPEAL_WINDOW = timedelta(hours=24)
# pg_advisory_xact_lock(space, member) namespace for appeals (db/limits.py uses the one-key form for admissions).
APPEAL_LOCK_SPACE = 0x61707065  # "appe"


@dataclass(frozen=True)
class BlockView:
    """One refused prompt; decision is None until a moderator answers its appeal."""

    id: int
    guild_id: int | None
    channel_id: int
    user_id: int
    role_ids: list[int]
    kind: JobKind
    prompt: str
    params: dict[str, Any]
    rule: str
    created_at: datetime
    appealed_at: datetime | None
    decision: str | None
    decided_by: int | None
    decided_at: datetime | None
    job_id: int | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> BlockView:
        """Build from a prompt_blocks row."""
        values = {f.name: row[f.name] for f in fields(cls)}
        values.update(kind=JobKind(values["kind"]), role_ids=list(values["role_ids"] or []),
                      params=dict(values["params"] or {}))
        return cls(**values)


@dataclass(frozen=True)
class HoldView:
    """One held result: state is "held", "released" or "deleted"."""

    job_id: int
    log_message_id: int | None
    state: str
    decided_by: int | None
    decided_at: datetime | None
    released_message_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> HoldView:
        """Build from an nsfw_holds row."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})


class AppealRefused(Exception):
    """The member may not appeal this block (not theirs, already appealed, or too many appeals today)."""


class SafetyStore:
    """Refused prompts, appeals and holds; one short transaction per call."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        self._write = Transactions(engine).write

    # -- refused prompts and appeals ---------------------------------------------------------------------------
    async def record_block(self, *, guild_id: int | None, channel_id: int, user_id: int, role_ids: Sequence[int],
                           kind: str, prompt: str, params: Mapping[str, Any], rule: str) -> BlockView:
        """Keep a refused prompt (with its whole request, so an "Allow once" can queue exactly it)."""
        values = {"guild_id": guild_id, "channel_id": channel_id, "user_id": user_id, "role_ids": list(role_ids),
                  "kind": JobKind(kind), "prompt": prompt, "params": dict(params), "rule": rule,
                  "created_at": self._clock()}
        async with self._write() as conn:
            row = (await conn.execute(BLOCKS.insert().values(**values).returning(*BLOCKS.c))).mappings().one()
        return BlockView.from_row(row)

    async def block(self, block_id: int) -> BlockView | None:
        """One refused prompt by id."""
        async with self._write() as conn:
            row = (await conn.execute(select(BLOCKS).where(BLOCKS.c.id == block_id))).mappings().first()
        return None if row is None else BlockView.from_row(row)

    async def appeal(self, block_id: int, user_id: int) -> BlockView:
        """Mark a block appealed by its member, at most APPEALS_PER_DAY per member in any 24 hours."""
        now = self._clock()
        async with self._write() as conn:
            row = (await conn.execute(select(BLOCKS).where(BLOCKS.c.id == block_id))).mappings().first()
            if row is None or row["user_id"] != user_id:
                raise AppealRefused("Only the member whose prompt was blocked can appeal it.")
            if row["appealed_at"] is not None:
                raise AppealRefused("You already appealed this prompt; the moderators will answer it.")
            if conn.dialect.name == "postgresql":
                # Count and mark under a per-member lock: two appeals at the same instant would both count four
                # (SQLite's BEGIN IMMEDIATE already serialises them).
                await conn.execute(text("SELECT pg_advisory_xact_lock(:space, :member)"),
                                   {"space": APPEAL_LOCK_SPACE, "member": user_id % 2**31})
            recent = select(func.count()).where(BLOCKS.c.user_id == user_id,
                                                BLOCKS.c.appealed_at > now - APPEAL_WINDOW)
            if (await conn.scalar(recent) or 0) >= APPEALS_PER_DAY:
                raise AppealRefused(f"You have made {APPEALS_PER_DAY} appeals in the last 24 hours, the most "
                                    "allowed; try again tomorrow.")
            stmt = (update(BLOCKS).where(BLOCKS.c.id == block_id, BLOCKS.c.appealed_at.is_(None))
                    .values(appealed_at=now).returning(*BLOCKS.c))
            updated = (await conn.execute(stmt)).mappings().first()
        if updated is None:  # a second click raced this one
            raise AppealRefused("You already appealed this prompt; the moderators will answer it.")
        return BlockView.from_row(updated)

    async def withdraw_appeal(self, block_id: int) -> None:
        """Undo an appeal that never reached the moderators (the log channel refused the post)."""
        async with self._write() as conn:
            await conn.execute(update(BLOCKS).where(BLOCKS.c.id == block_id, BLOCKS.c.decision.is_(None))
                               .values(appealed_at=None))

    async def decide(self, block_id: int, moderator_id: int, decision: str, *, job_id: int | None = None) -> BlockView | None:
        """Answer an appeal ("allowed" or "kept") once, audited; None when it was already answered."""
        if decision not in ("allowed", "kept"):
            raise ValueError(f"decision {decision!r} must be 'allowed' or 'kept'")
        now = self._clock()
        async with self._write() as conn:
            stmt = (update(BLOCKS).where(BLOCKS.c.id == block_id, BLOCKS.c.appealed_at.is_not(None),
                                         BLOCKS.c.decision.is_(None))
                    .values(decision=decision, decided_by=moderator_id, decided_at=now, job_id=job_id)
                    .returning(*BLOCKS.c))
            row = (await conn.execute(stmt)).mappings().first()
            if row is None:
                return None
            await record_action(conn, now, guild_id=row["guild_id"], moderator_id=moderator_id,
                                action="appeal_allow" if decision == "allowed" else "appeal_keep",
                                target_user_id=row["user_id"], job_id=job_id,
                                details={"block": block_id, "rule": row["rule"], "prompt": row["prompt"][:200]})
        return BlockView.from_row(row)

    # -- held results ------------------------------------------------------------------------------------------
    async def hold(self, job_id: int) -> HoldView:
        """The hold of a job, created on first call (a re-delivery finds the one it made before)."""
        async with self._write() as conn:
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.job_id == job_id))).mappings().first()
            if row is None:
                insert = HOLDS.insert().values(job_id=job_id, state="held", created_at=self._clock())
                row = (await conn.execute(insert.returning(*HOLDS.c))).mappings().one()
        return HoldView.from_row(row)

    async def get_hold(self, job_id: int) -> HoldView | None:
        """The hold of a job, if it was ever held."""
        async with self._write() as conn:
            row = (await conn.execute(select(HOLDS).where(HOLDS.c.job_id == job_id))).mappings().first()
        return None if row is None else HoldView.from_row(row)

    async def set_hold_message(self, job_id: int, *, log_message_id: int | None = None,
                               released_message_id: int | None = None) -> None:
        """Remember where the held result (or its release) was posted."""
        values = {k: v for k, v in (("log_message_id", log_message_id), ("released_message_id", released_message_id))
                  if v is not None}
        async with self._write() as conn:
            await conn.execute(update(HOLDS).where(HOLDS.c.job_id == job_id).values(**values))
            if released_message_id is not None:  # the released post is now the job's result (for /vary by link)
                await conn.execute(update(JOBS).where(JOBS.c.id == job_id)
                                   .values(result_message_id=released_message_id))

    async def decide_hold(self, job_id: int, moderator_id: int, state: str, *, guild_id: int | None,
                          user_id: int) -> HoldView | None:
        """Release or delete a held result once, audited; None when it was already decided."""
        if state not in ("released", "deleted"):
            raise ValueError(f"hold state {state!r} must be 'released' or 'deleted'")
        now = self._clock()
        async with self._write() as conn:
            stmt = (update(HOLDS).where(HOLDS.c.job_id == job_id, HOLDS.c.state == "held")
                    .values(state=state, decided_by=moderator_id, decided_at=now).returning(*HOLDS.c))
            row = (await conn.execute(stmt)).mappings().first()
            if row is None:
                return None
            await record_action(conn, now, guild_id=guild_id, moderator_id=moderator_id,
                                action="nsfw_release" if state == "released" else "nsfw_delete",
                                target_user_id=user_id, job_id=job_id)
        return HoldView.from_row(row)
