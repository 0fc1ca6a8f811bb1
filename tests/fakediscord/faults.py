"""Injected failures: Discord answering a route with 429, 5xx or a 4xx for a while, as it does on bad days."""

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakediscord.bodies import Body
from tests.fakediscord.clock import FakeClock
from tests.fakediscord.errors import DiscordError, json_response
from tests.fakediscord.ratelimits import headers

# What Discord says with each status when a test gives no message of its own.
DEFAULT_ERRORS = {
    400: (50035, "Invalid Form Body"),
    403: (50013, "Missing Permissions"),
    404: (10003, "Unknown Channel"),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
    503: (0, "503: Service Unavailable"),
}


@dataclass
class Fault:
    """Answer `method template` (optionally only for one channel) with `status`, `times` times or until `until`."""

    method: str
    template: str
    status: int
    channel_id: int | None = None
    times: int | None = None  # None: every matching request until `until`
    until: float | None = None  # on the fake's clock; None: until `times` runs out
    retry_after: float = 1.0  # for 429
    code: int | None = None
    message: str | None = None
    when: Callable[[Body], bool] | None = None  # only requests whose body this accepts
    hits: list[float] = field(default_factory=list)

    def matches(self, method: str, template: str | None, channel_id: int | None, now: float, body: Body) -> bool:
        """Whether this request gets the fault now."""
        if (method, template) != (self.method, self.template):
            return False
        if self.when is not None and not self.when(body):
            return False
        if self.channel_id is not None and channel_id != self.channel_id:
            return False
        if self.until is not None and now >= self.until:
            return False
        return self.times is None or len(self.hits) < self.times

    def response(self, template: str) -> web.Response:
        """The error response, shaped as Discord sends it (429s with the headers discord.py needs)."""
        if self.status == 429:
            body = {"message": "You are being rate limited.", "retry_after": self.retry_after, "global": False}
            response = json_response(body, status=429, headers=headers(template, 5, 0, self.retry_after))
            response.headers["Retry-After"] = str(max(1, round(self.retry_after)))
            response.headers["X-RateLimit-Scope"] = "user"
            response.headers["Via"] = "1.1 google"  # discord.py treats a 429 without it as a Cloudflare ban
            return response
        code, message = DEFAULT_ERRORS.get(self.status, (0, f"{self.status}: Error"))
        error = DiscordError(self.status, self.code if self.code is not None else code, self.message or message)
        return json_response(error.body(), status=self.status)


class Faults:
    """The faults a test injected; the REST middleware asks before running a handler."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.active: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Start injecting `fault`; returns it so the test can read `fault.hits`."""
        self.active.append(fault)
        return fault

    def response_for(self, request: web.Request, template: str | None, body: Body) -> web.Response | None:
        """The injected error for this request, or None to let the real handler answer."""
        raw = request.match_info.get("channel_id")
        channel_id = int(raw) if raw and raw.isdigit() else None
        now = self._clock.now()
        for fault in self.active:
            if template is not None and fault.matches(request.method, template, channel_id, now, body):
                fault.hits.append(now)
                return fault.response(template)
        return None
