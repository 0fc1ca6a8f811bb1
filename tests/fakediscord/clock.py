"""A clock that tests can move forward, so token expiry and rate limits are tested without sleeping."""

import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Real monotonic time plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Seconds on the fake's monotonic clock."""
        return time.monotonic() + self._offset

    def utcnow(self) -> datetime:
        """The wall-clock time the fake pretends it is (used for timestamps and snowflakes)."""
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> None:
        """Jump forward; going backwards is refused because Discord's clock never does."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards by {seconds} s")
        self._offset += seconds


DISCORD_EPOCH_MS = 1420070400000


class Snowflakes:
    """Discord ids: milliseconds since 2015 in the high bits, so ids sort by creation time."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        """A fresh id, strictly greater than every id made before."""
        ms = int(self._clock.utcnow().timestamp() * 1000) - DISCORD_EPOCH_MS
        candidate = ms << 22
        # Several ids in one millisecond differ in the low (increment) bits.
        self._last = max(candidate, self._last + 1)
        return self._last


def iso(moment: datetime) -> str:
    """Discord's timestamp format: ISO 8601 with microseconds and +00:00."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
