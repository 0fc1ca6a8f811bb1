"""Log lines: one per event, readable text by default or JSON (`logging.format = "json"`), secrets masked.

Event fields (job id, user id, guild id, kind, durations) travel as `extra=` on the record, so text lines end in
`key=value` pairs and JSON lines carry them as keys. A filter on the handler replaces the Discord token and the
database password with *** in every line, whichever library wrote it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from db.views import JobView

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record, in the order they were given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def job_fields(job: JobView, now: datetime | None = None) -> dict[str, Any]:
    """job_id, user_id, guild_id, kind, status and the durations known so far, for `extra=`."""
    fields: dict[str, Any] = {"job_id": job.id, "user_id": job.user_id, "guild_id": job.guild_id,
                              "kind": str(job.kind), "status": str(job.status)}
    if job.started_at is not None:
        fields["wait_s"] = round((job.started_at - job.created_at).total_seconds(), 3)
        if job.finished_at is not None:
            fields["run_s"] = round((job.finished_at - job.started_at).total_seconds(), 3)
    if now is not None:
        fields["total_s"] = round((now - job.created_at).total_seconds(), 3)
    return fields


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The classic line, with the event's fields appended."""
        line = super().format(record)
        fields = event_fields(record)
        if fields:
            head, sep, tail = line.partition("\n")  # keep a traceback below the fields
            line = head + " " + " ".join(f"{k}={v}" for k, v in fields.items()) + sep + tail
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the event's fields, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise one record."""
        out: dict[str, Any] = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        out.update({k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                    for k, v in event_fields(record).items()})
        if record.exc_info or record.exc_text:
            out["traceback"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class Redact(logging.Filter):
    """Replaces each secret with *** in the formatted message and the traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, None
        for key, value in event_fields(record).items():
            if isinstance(value, str) and any(s in value for s in self.secrets):
                setattr(record, key, "***")
        return True


def setup_logging(fmt: str = "text", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send every logger's lines to stderr in `fmt`, with `secrets` masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, logging.StreamHandler) and getattr(old, "_imagine", False):
            root.removeHandler(old)
    handler._imagine = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


def adopt_library_logging() -> None:
    """Route transformers' and diffusers' logs through our handler and turn off their progress bars.

    Both libraries install their own stderr handler, which would bypass the JSON format and the masking; their
    tqdm bars are noise in a service log. Importing them loads torch, so only processes that run models call this.
    """
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    for library in (transformers_logging, diffusers_logging):
        library.disable_default_handler()
        library.enable_propagation()
        library.disable_progress_bar()
    # The hub's HTTP client logs every request at INFO (two lines per file of a model downloaded at start).
    for chatty in ("httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
