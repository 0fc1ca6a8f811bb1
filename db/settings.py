"""Per-member defaults (/settings): read before a job is built, written by the member, one row per guild member."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import MemberSetting
from db.queue import utcnow
from db.transactions import Transactions

SETTINGS: Table = MemberSetting.__table__  # type: ignore[assignment]
DM_GUILD = 0  # direct messages have no guild; their settings live under guild id 0
VARIATIONS = ("subtle", "strong")


@dataclass(frozen=True)
class Preferences:
    """One member's settings; None and empty mean "the server's default"."""

    aspect: str | None = None
    variation: str | None = None
    suffix: str = ""
    remix: bool = False
    dm_results: bool = False

    def __post_init__(self) -> None:
        if self.variation is not None and self.variation not in VARIATIONS:
            raise ValueError(f"variation must be one of {VARIATIONS}, got {self.variation!r}")

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Preferences:
        """From a member_settings row."""
        return cls(aspect=row["aspect"], variation=row["variation"], suffix=row["suffix"], remix=row["remix"],
                   dm_results=row["dm_results"])


class SettingsStore:
    """Reads and writes members' settings; a member without a row has the defaults."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        transactions = Transactions(engine)
        self._write, self._read = transactions.write, transactions.read

    async def get(self, guild_id: int | None, user_id: int) -> Preferences:
        """A member's settings in a guild (defaults when they never set any)."""
        stmt = select(SETTINGS).where(SETTINGS.c.guild_id == (guild_id or DM_GUILD), SETTINGS.c.user_id == user_id)
        async with self._read() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return Preferences() if row is None else Preferences.from_row(row)

    async def update(self, guild_id: int | None, user_id: int, **changes: Any) -> Preferences:
        """Change some settings (the others keep their value) in one statement; returns the settings now."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(Preferences)}
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        current = await self.get(guild_id, user_id)
        wanted = dataclasses.replace(current, **changes)  # checks the values
        values = dataclasses.asdict(wanted) | {"guild_id": guild_id or DM_GUILD, "user_id": user_id,
                                               "updated_at": self._clock()}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # An upsert of only the changed columns: two concurrent /settings never undo each other's other changes.
        stmt = dialect.insert(SETTINGS).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["guild_id", "user_id"],
                                          set_={name: stmt.excluded[name] for name in [*changes, "updated_at"]})
        async with self._write() as conn:
            await conn.execute(stmt)
        return await self.get(guild_id, user_id)
