"""Check REST traffic against Discord's official OpenAPI 3.1 spec (shared/discord-openapi/openapi.json beside the checkout)."""

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# shared/ sits beside the repository's checkout (on developers' machines and in CI alike).
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "discord-openapi" / "openapi.json"
SPEC_URI = "urn:discord-openapi"
METHODS = ("get", "put", "post", "patch", "delete")


@cache
def spec() -> dict:
    """The parsed spec (read once)."""
    return json.loads(SPEC_PATH.read_text())


@cache
def _registry() -> Registry:
    contents = json.loads(json.dumps(spec()))
    # Discord coerces integers to snowflakes, and discord.py relies on it (attachment "id": 0 means files[0]).
    schemas = contents["components"]["schemas"]
    schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]}
    return Registry().with_resource(SPEC_URI, Resource.from_contents(contents, default_specification=DRAFT202012))


@cache
def _templates() -> list[tuple[re.Pattern, str, int]]:
    rows = []
    for template in spec()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        literals = sum(1 for part in template.split("/") if part and not part.startswith("{"))
        rows.append((re.compile(pattern), template, literals))
    return rows


def template_for(path: str) -> str | None:
    """The spec's path template for a concrete path (literal segments win: /users/@me over /users/{user_id})."""
    matches = [(literals, template) for pattern, template, literals in _templates() if pattern.match(path)]
    return max(matches)[1] if matches else None


def _pointer(*parts: str) -> str:
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return SPEC_URI + "#/" + "/".join(escaped)


@cache
def _validator(*parts: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": _pointer(*parts)}, registry=_registry())


def _explain(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the errors of the branch whose `type` discriminator matched (Discord unions key on it)."""
    if not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [errs for errs in branches.values() if not any(list(e.relative_path) == ["type"] for e in errs)]
    if len(plausible) == 1:
        return _explain(best_match(plausible[0]))
    return best_match([error])


def _errors(validator: Draft202012Validator, instance: Any, where: str) -> list[str]:
    problems = []
    for error in validator.iter_errors(instance):
        best = _explain(error)
        location = "/".join(str(p) for p in best.absolute_path) or "(root)"
        problems.append(f"{where}: {location}: {best.message[:300]}")
    return problems


def check_request(method: str, path: str, query: dict[str, str], body: Any, multipart: bool = False) -> list[str]:
    """Problems with one request: unknown route or method, unknown query parameter, body not matching the schema."""
    where = f"{method} {path}"
    template = template_for(path)
    if template is None:
        return [f"{where}: no such path in the OpenAPI spec"]
    item = spec()["paths"][template]
    operation = item.get(method.lower())
    if operation is None:
        return [f"{where}: {template} has no {method} operation"]
    problems = []
    known = {p["name"] for p in item.get("parameters", []) + operation.get("parameters", []) if p.get("in") == "query"}
    problems += [f"{where}: unknown query parameter {name!r}" for name in query if name not in known]
    content = operation.get("requestBody", {}).get("content", {})
    if body is not None:
        media = "multipart/form-data" if multipart else "application/json"
        if media not in content:
            problems.append(f"{where}: {template} {method} takes no {media} body")
        else:
            validator = _validator("paths", template, method.lower(), "requestBody", "content", media, "schema")
            problems += _errors(validator, body, where)
    elif operation.get("requestBody", {}).get("required"):
        problems.append(f"{where}: the request body is required")
    return problems


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Problems with one response body against the operation's response schema for that status."""
    where = f"{method} {path} -> {status}"
    template = template_for(path)
    if template is None:
        return [f"{where}: no such path in the OpenAPI spec"]
    responses = spec()["paths"][template].get(method.lower(), {}).get("responses", {})
    response = responses.get(str(status))
    if response is None:
        return [f"{where}: status {status} is not documented (documented: {sorted(responses)})"]
    if "$ref" in response or "application/json" not in response.get("content", {}):
        return []
    validator = _validator("paths", template, method.lower(), "responses", str(status), "content", "application/json", "schema")
    return _errors(validator, body, where)


def check_requests(records: Iterable[Any]) -> list[str]:
    """Problems over a FakeDiscord's `requests` log (RequestRecord: method, path, query, json, multipart)."""
    problems: list[str] = []
    for record in records:
        problems += check_request(record.method, record.path, record.query, record.json, record.multipart)
    return problems


def check_responses(records: Iterable[Any]) -> list[str]:
    """Problems with the fake's own successful JSON responses in a `requests` log."""
    problems: list[str] = []
    for record in records:
        if 200 <= record.status < 300 and record.response is not None:
            problems += check_response(record.method, record.path, record.status, record.response)
    return problems


def check_schema(name: str, instance: Any) -> list[str]:
    """Problems with an object against one of the spec's component schemas (e.g. ResolvedObjectsResponse)."""
    return _errors(_validator("components", "schemas", name), instance, name)
