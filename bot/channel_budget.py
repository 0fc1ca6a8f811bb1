"""Discord's per-channel message budget (about 5 creates or edits per 5 s), shared by every job in a channel."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# A little under Discord's 5 per 5 s: requests reach Discord a moment after we count them, and result posts and
# failure notices share the channel.
EDITS_PER_WINDOW = 4
WINDOW_S = 5.0


class ChannelBudget:
    """At most `limit` status-message writes per channel in any `window_s`; the clock is a parameter."""

    def __init__(self, limit: int = EDITS_PER_WINDOW, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a channel budget needs limit >= 1 and window_s > 0, got {limit!r}, {window_s!r}")
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._spent: dict[int, deque[float]] = {}

    def _recent(self, channel_id: int) -> deque[float]:
        now = self._clock()
        spent = self._spent.setdefault(channel_id, deque())
        while spent and now - spent[0] >= self.window_s:
            spent.popleft()
        if not spent:
            del self._spent[channel_id]  # idle channels cost nothing
            return deque()
        return spent

    def available(self, channel_id: int) -> int:
        """How many writes the channel may take now."""
        return self.limit - len(self._recent(channel_id))

    def spend(self, channel_id: int) -> bool:
        """Take one write from the channel's budget; False (nothing taken) when it is used up."""
        if self.available(channel_id) <= 0:
            return False
        self._spent.setdefault(channel_id, deque()).append(self._clock())
        return True
