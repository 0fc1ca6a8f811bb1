"""The per-channel budget for status-message writes: shared by every job in a channel, sliding, on a fake clock."""

from __future__ import annotations

import pytest

from bot.channel_budget import ChannelBudget


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_channel_takes_at_most_limit_writes_per_window() -> None:
    """Four writes go through, the fifth waits until the first is a full window old."""
    clock = Clock()
    budget = ChannelBudget(limit=4, window_s=5.0, clock=clock)
    spent = []
    for _ in range(5):
        spent.append(budget.spend(1))
        clock.now += 1.0
    assert spent == [True, True, True, True, False]  # at 100, 101, 102, 103; refused at 104
    clock.now = 104.99
    assert not budget.spend(1)
    clock.now = 105.0  # the write at 100 is a full window old
    assert budget.spend(1) and not budget.spend(1)


def test_channels_have_budgets_of_their_own() -> None:
    """A busy channel does not hold up another one."""
    budget = ChannelBudget(limit=1, window_s=5.0, clock=Clock())
    assert budget.spend(1) and not budget.spend(1)
    assert budget.spend(2)
    assert budget.available(3) == 1


def test_nonsense_limits_are_refused() -> None:
    """A budget of no writes, or an empty window, is a configuration error named at once."""
    with pytest.raises(ValueError, match="limit"):
        ChannelBudget(limit=0)
