"""The PostgreSQL half of the suite skips locally without a server, but fails under CI."""

from __future__ import annotations

import pytest

from tests.db.conftest import check_postgres

NO_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


@pytest.mark.parametrize(
    ("url", "ci", "outcome", "reason"),
    [
        (None, False, pytest.skip.Exception, "need TEST_POSTGRES_URL"),
        (NO_SERVER, False, pytest.skip.Exception, "unreachable"),
        (None, True, pytest.fail.Exception, "CI is set but PostgreSQL tests need TEST_POSTGRES_URL"),
        (NO_SERVER, True, pytest.fail.Exception, "unreachable"),
    ],
)
def test_missing_postgres_skips_locally_and_fails_under_ci(
    url: str | None, ci: bool, outcome: type[BaseException], reason: str
) -> None:
    """No or unreachable server: the PostgreSQL variants skip with the reason, or fail the run when CI is set."""
    with pytest.raises(outcome, match=reason):
        check_postgres(url, ci)
