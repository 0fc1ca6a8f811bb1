"""Render docs/grid-message.png for the README: a real /imagine result, drawn roughly as Discord shows it.

The bot runs as in the end-to-end tests (real discord.py against the fake Discord, the tiny random test model, so
the tiles are noise rather than art), posts its grid; this script draws that message: author, content, the grid
attachment and the button rows exactly as the bot sent them.
Run: `PYTHONPATH=. .venv/bin/python scripts/readme_picture.py`.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bot.conftest import BotRunner, bot_config, wait_result
from tests.fakediscord.messages import Message
from tests.fakediscord.pointing import point_discord_at
from tests.fakediscord.server import FakeDiscord
from tests.tiny_model import build_tiny_model

PROMPT = "a lighthouse at dusk, oil painting"
BACKGROUND, TEXT, MUTED, BUTTON, ACCENT = "#313338", "#dbdee1", "#949ba4", "#4e5058", "#5865f2"


async def post_grid(folder: Path) -> Message:
    """Run the bot against the fake Discord and return the grid message it posts for one /imagine."""
    model = build_tiny_model(folder / "tiny-model")
    async with FakeDiscord() as fake:
        with point_discord_at(fake):
            config = bot_config(fake, folder, model)
            config = replace(config, generation=replace(config.generation, width=128, height=128))
            runner = BotRunner(fake, config)
            await runner.start()
            try:
                mark = fake.mark()
                inter = await fake.invoke_slash("imagine", {"prompt": PROMPT}, user_id=fake.users[0])
                await inter.wait_response(timeout=10)
                return await wait_result(fake, mark, timeout=300)
            finally:
                await runner.stop()


def draw(message: Message) -> Image.Image:
    """The message as a Discord client shows it, on Discord's dark theme."""
    font, bold = ImageFont.load_default(size=15), ImageFont.load_default(size=16)
    grid = Image.open(io.BytesIO(message.attachments[0].data)).convert("RGB")
    grid = grid.resize((320, 320 * grid.height // grid.width), Image.Resampling.NEAREST)
    rows = [[c for c in row["components"]] for row in message.components]
    width, left = 620, 76
    height = 70 + grid.height + 16 + len(rows) * 42 + 16
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    pen.ellipse((16, 16, 56, 56), fill=ACCENT)
    pen.text((36, 36), "i", font=bold, fill="white", anchor="mm")
    pen.text((left, 14), "imagine-bot", font=bold, fill="white")
    pen.rounded_rectangle((left + 102, 15, left + 136, 31), radius=3, fill=ACCENT)
    pen.text((left + 119, 23), "APP", font=ImageFont.load_default(size=11), fill="white", anchor="mm")
    content = re.sub(r"<@\d+>", "@member", message.content).replace("**", "")
    pen.text((left, 40), content, font=font, fill=TEXT)
    canvas.paste(grid, (left, 66))
    y = 66 + grid.height + 12
    for row in rows:
        x = left
        for button in row:
            label = button.get("label") or ("re-roll" if button.get("emoji") else "?")
            w = max(44, int(pen.textlength(label, font=font)) + 24)
            pen.rounded_rectangle((x, y, x + w, y + 32), radius=4, fill=ACCENT if button.get("style") == 1 else BUTTON)
            pen.text((x + w / 2, y + 16), label, font=font, fill="white", anchor="mm")
            x += w + 8
        y += 42
    return canvas


def main() -> None:
    """Post a grid through the real bot, draw it, save docs/grid-message.png."""
    with tempfile.TemporaryDirectory() as tmp:
        message = asyncio.run(post_grid(Path(tmp)))
    out = ROOT / "docs" / "grid-message.png"
    draw(message).save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
