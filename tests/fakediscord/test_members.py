"""Members with roles and permissions, subcommand groups and USER options, as Discord sends them."""

from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from tests.fakediscord import openapi_check
from tests.fakediscord.pointing import running
from tests.fakediscord.server import FakeDiscord
from tests.fakediscord.state import MANAGE_GUILD


class MemberBot(discord.Client):
    """/mod quota show user: answers with what discord.py made of the invoker and the chosen member."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.tree = app_commands.CommandTree(self)
        mod = app_commands.Group(name="mod", description="Moderator tools",
                                 default_permissions=discord.Permissions(manage_guild=True))
        quota = app_commands.Group(name="quota", description="Quotas", parent=mod)

        @quota.command(name="show", description="Show a member's quota")
        async def show(interaction: discord.Interaction, user: discord.Member) -> None:
            invoker = interaction.user
            assert isinstance(invoker, discord.Member) and isinstance(user, discord.Member)
            await interaction.response.send_message(
                f"{interaction.command.qualified_name}|{interaction.permissions.manage_guild}|"
                f"{sorted(r.name for r in invoker.roles)}|{user.id}|{sorted(r.name for r in user.roles)}")

        self.tree.add_command(mod)

    async def setup_hook(self) -> None:
        await self.tree.sync()


@pytest.fixture
async def member_bot(discord_at_fake: FakeDiscord) -> AsyncIterator[MemberBot]:
    """MemberBot connected to the fake with its commands synced."""
    async with running(MemberBot(), discord_at_fake) as bot:
        await discord_at_fake.wait_until_ready()
        yield bot


async def test_subcommand_with_user_option_reaches_discordpy(member_bot: MemberBot, fake_discord: FakeDiscord) -> None:
    """`mod quota show user:` arrives nested, with the user resolved to a Member and the invoker's permissions."""
    bob, carol = fake_discord.users[1], fake_discord.users[2]
    inter = await fake_discord.invoke_slash("mod quota show", {"user": carol}, user_id=bob)
    reply = await inter.wait_response()
    assert reply.content == f"mod quota show|False|['@everyone', 'Moderator']|{carol}|['@everyone']"
    owner = await fake_discord.invoke_slash("mod quota show", {"user": bob}, user_id=fake_discord.users[0])
    assert (await owner.wait_response()).content.startswith(f"mod quota show|True|['@everyone']|{bob}|")


async def test_interaction_member_and_resolved_data_match_the_spec(member_bot: MemberBot,
                                                                   fake_discord: FakeDiscord) -> None:
    """The invoking member and the resolved users and members validate against Discord's published schemas."""
    inter = await fake_discord.invoke_slash("mod quota show", {"user": fake_discord.users[1]})
    await inter.wait_response()
    data = inter.payload["data"]
    assert data["options"][0]["type"] == 2 and data["options"][0]["options"][0]["type"] == 1
    assert openapi_check.check_schema("ResolvedObjectsResponse", data["resolved"]) == []
    assert openapi_check.check_schema("GuildMemberResponse", inter.payload["member"]) == []
    assert set(data["resolved"]["members"][str(fake_discord.users[1])]) >= {"roles", "permissions", "joined_at"}
    assert "user" not in data["resolved"]["members"][str(fake_discord.users[1])]


async def test_new_role_and_member_are_seen_by_the_bot(member_bot: MemberBot, fake_discord: FakeDiscord) -> None:
    """A role created while the bot is connected (GUILD_ROLE_CREATE) and given to a new member shows in member.roles."""
    role_id = await fake_discord.add_role("Server Managers", MANAGE_GUILD)
    dave = fake_discord.add_member("dave", [role_id])
    inter = await fake_discord.invoke_slash("mod quota show", {"user": dave}, user_id=dave)
    reply = await inter.wait_response()
    assert reply.content == f"mod quota show|True|['@everyone', 'Server Managers']|{dave}|['@everyone', 'Server Managers']"


async def test_roles_changed_later_change_permissions(member_bot: MemberBot, fake_discord: FakeDiscord) -> None:
    """set_roles takes effect on the next interaction, as a role change in Discord does."""
    carol = fake_discord.users[2]
    role_id = await fake_discord.add_role("Admins", 1 << 3)
    fake_discord.set_roles(carol, [role_id])
    inter = await fake_discord.invoke_slash("mod quota show", {"user": carol}, user_id=carol)
    assert (await inter.wait_response()).content.startswith("mod quota show|True|")
    fake_discord.set_roles(carol, [])
    again = await fake_discord.invoke_slash("mod quota show", {"user": carol}, user_id=carol)
    assert (await again.wait_response()).content.startswith("mod quota show|False|['@everyone']")
    with pytest.raises(LookupError):
        fake_discord.set_roles(carol, [12345])
