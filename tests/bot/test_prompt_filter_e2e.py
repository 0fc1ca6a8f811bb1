"""The prompt filter end to end: a banned prompt is refused privately, names no rule and queues nothing."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from bot.config import ModerationSettings
from tests.bot.conftest import BotRunner
from tests.bot.test_variations_e2e import deferred_reply


async def _with_banned_words(runner: BotRunner, *words: str) -> None:
    runner.config = replace(runner.config, moderation=ModerationSettings(banned_words=words))
    await runner.restart()


async def test_a_disguised_banned_word_is_refused_and_nothing_is_queued(runner: BotRunner) -> None:
    """/imagine with "ｎüdе" (full-width, accent, Cyrillic) is refused without echoing the word list."""
    await _with_banned_words(runner, "nude", "secretword")
    inter = await runner.fake.invoke_slash("imagine", {"prompt": "a ｎüdе statue --ar 3:2"})
    reply = await inter.wait_response(timeout=3)
    assert reply.ephemeral and "blocked" in reply.content
    assert "nude" not in reply.content and "secretword" not in reply.content
    assert sum((await runner.bot.queue.counts()).values()) == 0


async def test_a_vary_image_prompt_is_filtered_too(runner: BotRunner) -> None:
    """/vary image: with a banned prompt is refused before anything is queued."""
    await _with_banned_words(runner, "nude")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "PNG")
    inter = await runner.fake.invoke_slash("vary", {"prompt": "make it n.u.d.e"},
                                           attachments={"image": ("red.png", buffer.getvalue(), "image/png")})
    assert "blocked" in await deferred_reply(inter)
    assert sum((await runner.bot.queue.counts()).values()) == 0
