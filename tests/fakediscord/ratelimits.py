"""Rate-limit headers on every response, and an opt-in per-channel message-edit limit."""

import hashlib
import time
from collections import deque

from tests.fakediscord.clock import FakeClock
from tests.fakediscord.errors import json_response

# Generous defaults: discord.py never sleeps while Remaining stays above zero.
DEFAULT_LIMIT = 50


def bucket_hash(template: str) -> str:
    """A stable opaque bucket id per route, like Discord's X-RateLimit-Bucket."""
    return hashlib.sha1(template.encode()).hexdigest()[:16]


def headers(template: str, limit: int, remaining: int, reset_after: float) -> dict[str, str]:
    """The X-RateLimit-* headers for one response."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        # Reset is real epoch time because discord.py compares it with its own clock.
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket_hash(template),
    }


def default_headers(template: str) -> dict[str, str]:
    """Headers for a route that is never limited in tests."""
    return headers(template, DEFAULT_LIMIT, DEFAULT_LIMIT - 1, 1.0)


class EditLimiter:
    """At most `limit` message edits per channel per `window_s`; off until a test turns it on."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.limit = 0
        self.window_s = 5.0
        self._edits: dict[int, deque[float]] = {}
        self.hits: list[tuple[int, float]] = []

    def enable(self, limit: int, window_s: float) -> None:
        """Turn the limit on."""
        self.limit, self.window_s = limit, window_s

    def _recent(self, channel_id: int) -> deque[float]:
        now = self._clock.now()
        edits = self._edits.setdefault(channel_id, deque())
        while edits and now - edits[0] >= self.window_s:
            edits.popleft()
        return edits

    def retry_after(self, channel_id: int) -> float:
        """Seconds until another edit is allowed (0 when allowed now)."""
        if not self.limit:
            return 0.0
        edits = self._recent(channel_id)
        if len(edits) < self.limit:
            return 0.0
        return max(0.001, edits[0] + self.window_s - self._clock.now())

    def record(self, channel_id: int, template: str) -> dict[str, str]:
        """Count an edit; return the headers that tell discord.py how much of the window is left."""
        if not self.limit:
            return default_headers(template)
        edits = self._recent(channel_id)
        edits.append(self._clock.now())
        reset_after = edits[0] + self.window_s - self._clock.now()
        return headers(template, self.limit, self.limit - len(edits), reset_after)

    def too_many(self, channel_id: int, template: str, retry_after: float):
        """The 429 Discord sends; discord.py needs the Via header to treat it as a rate limit."""
        self.hits.append((channel_id, retry_after))
        body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": False}
        response = json_response(body, status=429, headers=headers(template, self.limit, 0, retry_after))
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        response.headers["X-RateLimit-Scope"] = "user"
        response.headers["Via"] = "1.1 google"
        return response
