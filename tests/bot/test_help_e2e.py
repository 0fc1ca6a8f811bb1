"""/help end to end, and the README's command table kept complete."""

from __future__ import annotations

import re
from pathlib import Path

from bot.buttons import grid_view, single_view, status_view
from bot.commands import ALL_COMMANDS
from bot.commands.help import BUTTONS
from generation.prompt_params import _ALIASES
from tests.bot.conftest import BotRunner

README = Path(__file__).resolve().parents[2] / "README.md"


def _button_labels() -> set[str]:
    """Every button label (or emoji) the bot puts under its messages."""
    labels = set()
    for view in (grid_view(1, enhance=True), single_view(1, can_upscale=True), status_view(1)):
        for child in view.children:
            button = child.item  # type: ignore[attr-defined]
            labels.add(button.label or str(button.emoji))
    return labels


async def test_help_answers_privately_with_commands_flags_and_buttons(runner: BotRunner) -> None:
    """/help is one ephemeral embed naming every registered command, every flag and the prompt reference."""
    fake = runner.fake
    inter = await fake.invoke_slash("help", {}, user_id=fake.users[2])
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and len(reply.data["embeds"]) == 1
    text = reply.data["embeds"][0]["description"]
    assert not text.endswith("…"), "the help text outgrew an embed"
    for command in fake.commands:
        assert f"`/{command['name']}" in text, command["name"]
    for flag in set(_ALIASES.values()):
        assert f"--{flag}" in text, flag
    assert "docs/PROMPTS.md" in text
    assert reply.data["allowed_mentions"] == {"parse": []}


def test_help_names_every_button_the_bot_makes() -> None:
    """Every label on the bot's buttons is explained in /help (ranges like U1-U4 count for U1..U4)."""
    explained = " ".join(label for label, _ in BUTTONS)
    for label in _button_labels():
        short = re.sub(r"[0-9]$", "", label)
        assert label in explained or f"{short}1-{short}4" in explained, label


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Commands and buttons")
    return text[start:text.index("\n## ", start + 1)]


def test_readme_table_covers_every_command_and_button() -> None:
    """README's "Commands and buttons" table has a row for every slash command (and subcommand) and button."""
    table = _readme_table()
    for command in ALL_COMMANDS:
        walk = getattr(command, "walk_commands", None)
        for name in [c.qualified_name for c in walk()] if walk else [command.name]:
            assert f"`/{name}" in table, name
    plain = table.replace("`", "")
    labels = _button_labels() | {part for label, _ in BUTTONS for part in label.split(", ")}
    for label in labels:
        short = re.sub(r"[0-9]$", "", label)
        assert label in plain or f"{short}1-{short}4" in plain, label
