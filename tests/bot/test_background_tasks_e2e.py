"""The bot's long-running tasks survive faults they were not written for, and say so in the log."""

from __future__ import annotations

import logging

import pytest

from tests.bot.conftest import BotRunner, wait_result


async def test_an_unexpected_error_in_claim_restarts_the_worker(runner: BotRunner,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """claim() raising a non-queue error once: logged with its traceback, the worker restarts, the job is posted."""
    queue = runner.bot.queue
    real_claim, calls = queue.claim, []

    async def faulty_claim(worker_id: str):
        calls.append(worker_id)
        if len(calls) == 1:
            raise KeyError("a column the code did not expect")
        return await real_claim(worker_id)

    queue.claim = faulty_claim
    fake = runner.fake
    mark = fake.mark()
    with caplog.at_level(logging.ERROR):
        await fake.invoke_slash("imagine", {"prompt": "a lighthouse"})
        await wait_result(fake, mark)
    failures = [r for r in caplog.records if r.getMessage().startswith("worker failed")]
    assert len(failures) == 1 and isinstance(failures[0].exc_info[1], KeyError)
