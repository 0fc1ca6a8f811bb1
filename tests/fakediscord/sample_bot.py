"""A tiny discord.py bot that exercises the fake the way imagine-bot will (slash commands, files, DynamicItem buttons)."""

import asyncio
import io

import discord
from discord import app_commands
from discord.ext import commands

TILE_TEMPLATE = r"imagine:(?P<action>[a-z]+):(?P<job>[0-9]+):(?P<tile>[0-9])"


class TileButton(discord.ui.DynamicItem[discord.ui.Button], template=TILE_TEMPLATE):
    """An upscale/variation button whose state lives in its custom_id, so it works after a restart."""

    def __init__(self, action: str, job: int, tile: int) -> None:
        self.action, self.job, self.tile = action, job, tile
        button = discord.ui.Button(label=f"{action[0].upper()}{tile}", custom_id=f"imagine:{action}:{job}:{tile}")
        # Upscale buttons on the first row, variation buttons on the second.
        super().__init__(button, row=0 if action == "upscale" else 1)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> "TileButton":
        """Rebuild the button from the clicked custom_id."""
        return cls(match["action"], int(match["job"]), int(match["tile"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Record the click and answer ephemerally."""
        interaction.client.clicks.append((self.action, self.job, self.tile, interaction.user.id))
        await interaction.response.send_message(f"{self.action} {self.job} {self.tile}", ephemeral=True)


def grid_view(job: int) -> discord.ui.View:
    """Two rows of four buttons, like a Midjourney grid."""
    view = discord.ui.View(timeout=None)
    for action in ("upscale", "variation"):
        for tile in range(1, 5):
            view.add_item(TileButton(action, job, tile))
    return view


class EchoModal(discord.ui.Modal, title="Describe"):
    """One text field; the submission is echoed back."""

    text = discord.ui.TextInput(label="Prompt", custom_id="prompt-text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Echo the field."""
        await interaction.response.send_message(f"modal: {self.text.value}", ephemeral=True)


class SampleBot(commands.Bot):
    """Commands: /imagine, /slow, /defer, /echo-file, /snap, /describe; remembers clicks, errors and interactions."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.clicks: list[tuple[str, int, int, int]] = []
        self.errors: list[Exception] = []
        self.interactions: list[discord.Interaction] = []
        self.gate = asyncio.Event()
        self.tree.on_error = self.on_tree_error
        add_commands(self.tree)

    async def setup_hook(self) -> None:
        """Register the dynamic buttons and sync commands, as a real bot does at startup."""
        self.add_dynamic_items(TileButton)
        await self.tree.sync()

    async def on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Keep errors for the test to inspect."""
        self.errors.append(getattr(error, "original", error))


def add_commands(tree: app_commands.CommandTree) -> None:
    """The sample slash commands."""

    @tree.command(description="Draw a picture")
    @app_commands.describe(prompt="What to draw")
    async def imagine(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.send_message(f"queued: {prompt}", ephemeral=True)
        file = discord.File(io.BytesIO(b"\x89PNG fake grid"), filename="grid.png")
        await interaction.channel.send(f"**{prompt}**", file=file, view=grid_view(interaction.id % 1000))

    @tree.command(description="Answer only after the test opens the gate")
    async def slow(interaction: discord.Interaction) -> None:
        interaction.client.interactions.append(interaction)
        await interaction.client.gate.wait()
        await interaction.response.send_message("finally")

    @tree.command(description="Think, then follow up")
    async def defer(interaction: discord.Interaction) -> None:
        interaction.client.interactions.append(interaction)
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done thinking")

    @tree.command(name="echo-file", description="Report the size of an uploaded file")
    @app_commands.describe(image="Any file")
    async def echo_file(interaction: discord.Interaction, image: discord.Attachment) -> None:
        data = await image.read()
        await interaction.response.send_message(f"{image.filename} {len(data)} {data[:4]!r}")

    @tree.command(description="Reply with a file")
    async def snap(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("snap", file=discord.File(io.BytesIO(b"PIXELS"), filename="snap one.png"))

    @tree.command(description="Open a modal")
    async def describe(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(EchoModal())
