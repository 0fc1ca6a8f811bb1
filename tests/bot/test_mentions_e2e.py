"""Member text in bot messages pings nobody: only a job's owner is mentioned, and only explicitly."""

from __future__ import annotations

from tests.bot.conftest import BotRunner, wait_result
from tests.fakediscord.mentions import check_mentions


async def test_a_prompt_saying_everyone_pings_only_its_owner(runner: BotRunner) -> None:
    """`/imagine @everyone <@&role> <@user>`: the result's allowed_mentions name the owner alone, no mass mentions."""
    fake = runner.fake
    owner, other = fake.users[0], fake.users[2]
    prompt = f"@everyone @here free nitro <@&{fake.moderator_role_id}> <@{other}>"
    mark = fake.mark()
    await fake.invoke_slash("imagine", {"prompt": prompt}, user_id=owner)
    await wait_result(fake, mark)
    posts = [r for r in fake.requests if r.method == "POST" and r.template == "/channels/{channel_id}/messages"
             and "free nitro" in ((r.json or {}).get("content") or "") and r.files]
    assert len(posts) == 1
    allowed = posts[0].json["allowed_mentions"]
    assert allowed["parse"] == [] and [int(u) for u in allowed["users"]] == [owner] and not allowed.get("roles")
    assert check_mentions(fake.requests) == []
