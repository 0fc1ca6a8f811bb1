"""Members' /settings on both databases: defaults without a row, partial updates, one row per guild member."""

from __future__ import annotations

import asyncio

import pytest

from db.queue import Queue
from db.settings import Preferences, SettingsStore
from tests.db.conftest import FakeClock

GUILD, OTHER_GUILD, MEMBER = 100, 101, 8


@pytest.fixture
def store(queue: Queue, clock: FakeClock) -> SettingsStore:
    """Settings on the queue's database and clock."""
    return SettingsStore(queue.engine, clock=clock)


async def test_a_member_without_settings_has_the_defaults(store: SettingsStore) -> None:
    """No row: every setting is the server default."""
    assert await store.get(GUILD, MEMBER) == Preferences()


async def test_update_changes_only_what_it_names(store: SettingsStore) -> None:
    """Setting the aspect, then remix, keeps the aspect; another guild's settings are separate."""
    await store.update(GUILD, MEMBER, aspect="16:9")
    now = await store.update(GUILD, MEMBER, remix=True)
    assert now == Preferences(aspect="16:9", remix=True)
    assert await store.get(OTHER_GUILD, MEMBER) == Preferences()


async def test_concurrent_updates_of_different_settings_both_stay(store: SettingsStore) -> None:
    """Two /settings at once, each changing one setting, never undo each other (the upsert names its columns)."""
    await asyncio.gather(store.update(GUILD, MEMBER, suffix="watercolor"), store.update(GUILD, MEMBER, dm_results=True))
    assert await store.get(GUILD, MEMBER) == Preferences(suffix="watercolor", dm_results=True)


async def test_unknown_settings_and_values_are_refused(store: SettingsStore) -> None:
    """A misspelt setting or a variation other than subtle/strong raises, naming it."""
    with pytest.raises(ValueError, match="colour"):
        await store.update(GUILD, MEMBER, colour="red")
    with pytest.raises(ValueError, match="wild"):
        await store.update(GUILD, MEMBER, variation="wild")
