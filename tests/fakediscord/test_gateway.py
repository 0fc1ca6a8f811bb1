"""The fake gateway, seen by discord.py and by a raw websocket."""

import asyncio
import json
import zlib

import aiohttp
import discord

from tests.fakediscord.pointing import running
from tests.fakediscord.sample_bot import SampleBot
from tests.fakediscord.server import FakeDiscord


async def test_client_sees_the_guild_after_ready(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """READY then GUILD_CREATE give discord.py the bot user, guild, channels, roles and members."""
    guild = sample_bot.get_guild(fake_discord.guild_id)
    assert sample_bot.user.id == fake_discord.bot_user_id
    assert guild is not None and guild.get_channel(fake_discord.other_channel_id) is not None
    assert guild.get_role(fake_discord.moderator_role_id).name == "Moderator"
    assert guild.me is not None and guild.member_count == len(fake_discord.users) + 1


async def test_gateway_speaks_zlib_stream(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """discord.py asks for zlib-stream compression and decodes what the fake sends."""
    assert fake_discord.gateway.compression == ["zlib-stream"]


async def test_wrong_token_fails_login(discord_at_fake: FakeDiscord) -> None:
    """A token the fake does not know is a 401, which discord.py reports as LoginFailure."""
    client = discord.Client(intents=discord.Intents.default())
    try:
        await client.login("not-the-token")
    except discord.LoginFailure:
        pass
    else:
        raise AssertionError("login with a wrong token succeeded")
    finally:
        await client.close()


async def test_dropped_connection_is_resumed(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """After the fake drops the socket, discord.py RESUMEs the session and events flow again."""
    await fake_discord.disconnect_gateway()
    async with asyncio.timeout(10):
        while fake_discord.gateway.resume_count == 0:
            await asyncio.sleep(0.02)
    inter = await fake_discord.invoke_slash("imagine", {"prompt": "after resume"})
    assert (await inter.wait_response()).content == "queued: after resume"


async def test_events_missed_while_disconnected_are_replayed(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """An event dispatched while the bot is away arrives when it resumes."""
    session = fake_discord.gateway.live_sessions()[0]
    await fake_discord.disconnect_gateway()
    async with asyncio.timeout(5):
        while session.connection is not None:
            await asyncio.sleep(0.005)
    message = await fake_discord.post_user_message("while you were away")
    async with asyncio.timeout(10):
        while message.id not in {m.id for m in sample_bot.cached_messages}:
            await asyncio.sleep(0.02)


async def test_restarted_client_identifies_again(discord_at_fake: FakeDiscord) -> None:
    """A second client after the first closed gets a fresh session; the fake keeps its commands."""
    async with running(SampleBot(), discord_at_fake):
        await discord_at_fake.wait_until_ready()
    assert not discord_at_fake.gateway.live_sessions()
    async with running(SampleBot(), discord_at_fake):
        await discord_at_fake.wait_until_ready()
        assert discord_at_fake.gateway.identify_count == 2
        assert [c["name"] for c in discord_at_fake.commands].count("imagine") == 1


async def _receive(ws: aiohttp.ClientWebSocketResponse, inflate) -> dict:
    msg = await ws.receive(timeout=5)
    return json.loads(inflate.decompress(msg.data) if msg.type is aiohttp.WSMsgType.BINARY else msg.data)


async def test_raw_identify_heartbeat_and_compression(fake_discord: FakeDiscord) -> None:
    """HELLO, heartbeat ACK, READY with resume_gateway_url, GUILD_CREATE, all zlib-stream compressed."""
    inflate = zlib.decompressobj()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake_discord.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            hello = await _receive(ws, inflate)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 1, "d": None})
            assert (await _receive(ws, inflate))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": fake_discord.token, "intents": 513, "properties": {}}})
            ready, guild = await _receive(ws, inflate), await _receive(ws, inflate)
    assert (ready["t"], ready["s"]) == ("READY", 1)
    assert ready["d"]["resume_gateway_url"] == fake_discord.gateway_url
    assert ready["d"]["application"]["id"] == str(fake_discord.application_id)
    assert (guild["t"], guild["s"], guild["d"]["id"]) == ("GUILD_CREATE", 2, str(fake_discord.guild_id))


async def test_raw_identify_with_wrong_token_closes_4004(fake_discord: FakeDiscord) -> None:
    """A wrong token on IDENTIFY closes the socket with 4004 Authentication failed."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake_discord.gateway_url + "?v=10&encoding=json") as ws:
            await ws.receive(timeout=5)
            await ws.send_json({"op": 2, "d": {"token": "nope", "intents": 0, "properties": {}}})
            closing = await ws.receive(timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_privileged_intents_get_members_and_content(discord_at_fake: FakeDiscord) -> None:
    """With members and message_content intents the guild arrives chunked and user messages keep their text."""
    client = discord.Client(intents=discord.Intents.all(), guild_ready_timeout=0.05)
    async with running(client, discord_at_fake):
        guild = client.get_guild(discord_at_fake.guild_id)
        assert guild.chunked and {m.id for m in guild.members} >= set(discord_at_fake.users)
        received = asyncio.ensure_future(client.wait_for("message", timeout=5))
        await discord_at_fake.post_user_message("visible text")
        assert (await received).content == "visible text"


async def test_interactions_work_before_discordpy_is_ready(discord_at_fake: FakeDiscord) -> None:
    """With the default 2 s guild_ready_timeout, a slash command is served as soon as the client identified."""
    bot = SampleBot()
    bot._connection.guild_ready_timeout = 2.0
    async with running(bot, discord_at_fake, wait_for_ready=False):
        await discord_at_fake.wait_until_ready()
        inter = await discord_at_fake.invoke_slash("imagine", {"prompt": "early"})
        assert (await inter.wait_response()).content == "queued: early"
        assert not bot.is_ready()


async def _until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_reconnect_opcode_leads_to_resume(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """Op 7 RECONNECT makes discord.py reconnect and RESUME the same session."""
    await fake_discord.request_reconnect()
    await _until(lambda: fake_discord.gateway.resume_count == 1)
    assert fake_discord.gateway.identify_count == 1


async def test_invalid_session_leads_to_a_new_identify(sample_bot: SampleBot, fake_discord: FakeDiscord) -> None:
    """When the fake forgets the session, the RESUME is refused and discord.py identifies again."""
    await fake_discord.invalidate_sessions()
    await _until(lambda: fake_discord.gateway.identify_count == 2)
    inter = await fake_discord.invoke_slash("imagine", {"prompt": "again"})
    assert (await inter.wait_response()).content == "queued: again"
