"""The console's pure parts: ban durations, audit lines and queue lines."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands.mod import parse_duration, queue_line
from bot.errors import UserError
from bot.modlog import describe
from db.moderation import AuditEntry, QueueEntry
from db.views import JobView

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def job_view(**changes: object) -> JobView:
    """A JobView of job #1 by member 8, queued at WHEN, with some columns changed."""
    values = {f.name: None for f in dataclasses.fields(JobView)}
    values.update(id=1, user_id=8, guild_id=5, channel_id=6, kind="imagine", prompt="a fox", negative_prompt="",
                  params={}, status="queued", created_at=WHEN, cancel_requested=False)
    values.update(changes)
    return JobView(**values)


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("7d", timedelta(days=7)),
    ("1w2d", timedelta(days=9)), ("2h 30m", timedelta(hours=2, minutes=30)), (" 1D ", timedelta(days=1)),
    ("45s", timedelta(seconds=45)), ("366d", timedelta(days=366)),
])
def test_parse_duration_reads_units(text: str, expected: timedelta) -> None:
    """s, m, h, d and w, combined and spaced, case-insensitive."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("soon", "is not a duration"), ("5", "is not a duration"), ("1y", "is not a duration"), ("", "is not a duration"),
    ("0m", "out of range"), ("367d", "out of range"), ("60w", "out of range"),
])
def test_parse_duration_refuses_with_the_text(text: str, message: str) -> None:
    """A bad or out-of-range duration is a UserError that quotes what was typed."""
    with pytest.raises(UserError, match=message) as error:
        parse_duration(text)
    assert repr(text) in str(error.value)


def test_describe_a_timed_ban() -> None:
    """An audit line: when, moderator, verb, member, until when, and the reason with markdown escaped."""
    until = WHEN + timedelta(hours=2)
    entry = AuditEntry(1, 5, 7, "ban", 8, None, "spam *everywhere*", WHEN,
                       {"expires_at": until.isoformat(), "cancelled_jobs": [3, 4]})
    assert describe(entry) == (f"<t:{int(WHEN.timestamp())}:f> <@7> banned <@8> · until <t:{int(until.timestamp())}:f>"
                               " · cancelled #3, #4: spam \\*everywhere\\*")


def test_describe_an_action_it_does_not_know() -> None:
    """Actions recorded by other features (appeals) read as their name, with the job they concern."""
    entry = AuditEntry(2, 5, 7, "appeal_allow", 8, 12, "", WHEN, {})
    assert describe(entry) == f"<t:{int(WHEN.timestamp())}:f> <@7> appeal allow <@8> · job #12"


def test_queue_line_for_a_running_job() -> None:
    """A running job shows its progress and whether a stop was asked for; long prompts are cut."""
    job = job_view(status="running", progress_step=5, progress_total=20, cancel_requested=True, prompt="x" * 80,
                   created_at=WHEN - timedelta(hours=3))
    assert queue_line(QueueEntry(job, 0), WHEN) == f"`#1` · running 25%, stopping · <@8> · 3h old · {'x' * 60}…"
