"""Queue errors, and the one place where driver exceptions become them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc


class QueueError(Exception):
    """Base class of every error the queue raises on purpose."""


class QueueBusy(QueueError):
    """The database is locked or unreachable for now; retrying later is safe."""


class StorageFull(QueueError):
    """The database's disk (or page limit) is full; nothing was written, existing jobs are unharmed."""


class QueueFull(QueueError):
    """The queue holds as many queued jobs as it is configured to accept."""


# PostgreSQL SQLSTATE classes and codes, https://www.postgresql.org/docs/current/errcodes-appendix.html
_PG_BUSY_CLASSES = ("08",)  # connection exceptions
_PG_BUSY_CODES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout)
    "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up)
    "53300",  # too_many_connections
}
_PG_FULL_CODES = {
    "53100",  # disk_full
    "53200",  # out_of_memory
}
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked", "database is busy")
_SQLITE_FULL_TEXT = ("database or disk is full",)


def _sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a wrapped driver error, if it has one."""
    for candidate in (error, getattr(error, "orig", None), getattr(error, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def translate(error: BaseException) -> QueueError | None:
    """The queue error a driver exception stands for, or None when it is a bug to let through."""
    text = str(error).lower()
    code = _sqlstate(error)
    if isinstance(error, sa_exc.TimeoutError):  # pool checkout timed out: every connection is busy
        return QueueBusy(f"database busy: no free connection ({error})")
    if code in _PG_FULL_CODES or any(marker in text for marker in _SQLITE_FULL_TEXT):
        return StorageFull(f"database storage is full, nothing was written: {error}")
    if code is not None and (code in _PG_BUSY_CODES or code[:2] in _PG_BUSY_CLASSES):
        return QueueBusy(f"database busy or unreachable (SQLSTATE {code}), retry later: {error}")
    if any(marker in text for marker in _SQLITE_BUSY_TEXT):
        return QueueBusy(f"database locked by another writer longer than the busy timeout, retry later: {error}")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return QueueBusy(f"database connection lost, retry later: {error}")
    if isinstance(error, sa_exc.InterfaceError | OSError):
        return QueueBusy(f"database unreachable, retry later: {error}")
    if isinstance(error, sa_exc.DBAPIError) and isinstance(error.orig, OSError | ConnectionError):
        return QueueBusy(f"database unreachable, retry later: {error}")
    if type(error).__module__.startswith("asyncpg") and "connection" in text:
        return QueueBusy(f"database connection lost, retry later: {error}")
    return None


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver exceptions as QueueBusy / StorageFull; everything else passes unchanged."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError) as error:
        mapped = translate(error)
        if mapped is None:
            raise
        raise mapped from error
    except Exception as error:
        # asyncpg raises some connection errors unwrapped (e.g. while the pool pings a dead socket).
        mapped = translate(error) if type(error).__module__.startswith("asyncpg") else None
        if mapped is None:
            raise
        raise mapped from error
