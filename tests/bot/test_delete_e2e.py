"""Delete under a result: its owner and moderators remove the message; anyone else is refused; the job stays."""

from __future__ import annotations

from dataclasses import replace

from bot.config import ModerationSettings
from tests.bot.conftest import BotRunner, custom_ids, wait_result


async def _result(runner: BotRunner, user_id: int):
    mark = runner.fake.mark()
    await runner.fake.invoke_slash("imagine", {"prompt": "a paper boat"}, user_id=user_id)
    message = await wait_result(runner.fake, mark)
    return message, int(custom_ids(message)[0].split(":")[2])


async def test_delete_by_another_member_is_refused(runner: BotRunner) -> None:
    """A member who neither owns the job nor moderates gets a private refusal; the message stays."""
    fake = runner.fake
    message, job_id = await _result(runner, fake.users[0])
    click = await fake.click(message.id, f"imagine:d:{job_id}:0", user_id=fake.users[2])
    reply = await click.wait_response(timeout=3)
    assert reply.ephemeral and "Only the member who asked" in reply.content
    assert fake.message(message.id) is not None


async def test_owner_deletes_the_result_and_the_job_row_stays(runner: BotRunner) -> None:
    """The owner's click removes the message; the job is still in the database, succeeded."""
    fake = runner.fake
    message, job_id = await _result(runner, fake.users[2])
    click = await fake.click(message.id, f"imagine:d:{job_id}:0", user_id=fake.users[2])
    assert "Deleted" in (await click.wait_response(timeout=3)).content
    assert fake.message(message.id) is None
    assert (await runner.bot.queue.get(job_id)).status == "succeeded"


async def test_a_moderator_deletes_another_members_result(runner: BotRunner) -> None:
    """A member with a configured moderator role may delete anyone's result."""
    fake = runner.fake
    runner.config = replace(runner.config, moderation=ModerationSettings(moderator_role_ids=(fake.moderator_role_id,)))
    await runner.restart()
    message, job_id = await _result(runner, fake.users[2])
    click = await fake.click(message.id, f"imagine:d:{job_id}:0", user_id=fake.users[1])
    assert "Deleted" in (await click.wait_response(timeout=3)).content
    assert fake.message(message.id) is None
