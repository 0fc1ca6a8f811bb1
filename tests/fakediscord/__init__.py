"""A fake Discord (REST API v10 and Gateway) on 127.0.0.1 that an unmodified discord.py runs against.

Fixtures live in tests/fakediscord/fixtures.py; import them into another conftest.py with
``from tests.fakediscord.fixtures import discord_at_fake, fake_discord  # noqa: F401``:

- ``fake_discord``: a started ``FakeDiscord`` (server.py), stopped after the test.
- ``discord_at_fake``: the same fake with ``discord.http.Route.BASE`` and
  ``DiscordWebSocket.DEFAULT_GATEWAY`` pointed at it (``pointing.point_discord_at``), restored after.

Typical test::

    async def test_imagine(discord_at_fake):
        fake = discord_at_fake
        async with running(make_bot(guild_ids=[fake.guild_id]), fake, wait_for_ready=False):
            await fake.wait_until_ready()
            inter = await fake.invoke_slash("imagine", {"prompt": "a lighthouse"}, user_id=fake.users[2])
            assert (await inter.wait_response(timeout=3)).ephemeral
            grid = await fake.wait_for_message(fake.channel_id, lambda m: m.attachments)
            click = await fake.click(grid.id, grid.components[0]["components"][0]["custom_id"])
        assert openapi_check.check_requests(fake.requests) == []

``running`` is in pointing.py, ``openapi_check`` checks calls against /work/shared/discord-openapi/openapi.json.
"""
