"""The REST application: auth, the request log, Discord-shaped errors and rate-limit headers."""

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakediscord.bodies import Body, read_body
from tests.fakediscord.errors import DiscordError, json_response, not_found
from tests.fakediscord.faults import Faults
from tests.fakediscord.ratelimits import default_headers

API_PREFIX = "/api/v10"
# Routes authenticated by the token in their path instead of the bot token.
TOKEN_IN_PATH = ("/interactions/", "/webhooks/")


@dataclass
class RequestRecord:
    """One REST call as the fake saw it."""

    method: str
    path: str
    template: str | None
    query: dict[str, str]
    json: Any = None
    files: list[tuple[str, str, int]] = field(default_factory=list)
    multipart: bool = False
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)


# Where the middleware leaves the parsed body for the handlers.
BODY = web.RequestKey("body", Body)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str | None:
    """The matched route with {placeholders}, without the /api/v10 prefix (None when unmatched)."""
    info = request.match_info
    if isinstance(info, web.UrlMappingMatchInfo) and info.route.resource is not None and not info.http_exception:
        canonical = info.route.resource.canonical
        return canonical[len(API_PREFIX):] if canonical.startswith(API_PREFIX) else canonical
    return None


def make_middleware(token: str, log: list[RequestRecord], faults: Faults | None = None):
    """Middleware that checks auth, records the request and turns errors into Discord's JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        template = route_template(request)
        record = RequestRecord(request.method, request.path[len(API_PREFIX):], template, dict(request.query))
        log.append(record)
        try:
            # Parsed up front so that even refused requests are logged with their bodies.
            body = request[BODY] = await read_body(request)
            record.json, record.multipart = body.json, body.multipart
            record.files = [(f.filename, f.content_type, len(f.data)) for f in body.files]
            if not record.path.startswith(TOKEN_IN_PATH) and request.headers.get("Authorization") != f"Bot {token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            injected = faults.response_for(request, template, body) if faults is not None else None
            response = injected if injected is not None else await handler(request)
        except DiscordError as error:
            response = json_response(error.body(), status=error.status)
        except web.HTTPMethodNotAllowed:
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
        except web.HTTPNotFound:
            response = json_response(not_found().body(), status=404)
        if "X-RateLimit-Bucket" not in response.headers and response.status != 429:
            response.headers.update(default_headers(template or record.path))
        record.status = response.status
        if isinstance(response, web.Response) and response.content_type == "application/json" and response.body:
            record.response = json.loads(response.body)
        return response

    return middleware


def no_content() -> web.Response:
    """204, as Discord answers deletes."""
    return web.Response(status=204)
