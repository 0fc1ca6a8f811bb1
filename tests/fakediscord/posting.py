"""Creating, editing and deleting messages, and the gateway events Discord sends for each."""

import asyncio
import re
from collections.abc import Callable

from tests.fakediscord.bodies import Upload, apply_edit, attachments_for
from tests.fakediscord.clock import FakeClock, Snowflakes
from tests.fakediscord.gateway import DIRECT_MESSAGES, GUILD_MESSAGES, Gateway
from tests.fakediscord.messages import Attachment, Message, MessageStore
from tests.fakediscord.state import World


class Messenger:
    """The one place messages change, so every change is stored, announced and observable."""

    def __init__(self, world: World, store: MessageStore, gateway: Gateway, clock: FakeClock, ids: Snowflakes,
                 attachment_url: Callable[[int, int, str], str]) -> None:
        self.world, self.store, self.gateway, self.clock, self.ids = world, store, gateway, clock, ids
        self._attachment_url = attachment_url
        self.attachments: dict[int, Attachment] = {}
        self.changed = asyncio.Condition()

    def attach(self, channel_id: int, upload: Upload, description: str | None, ephemeral: bool = False) -> Attachment:
        """Store an upload and give it a URL on the fake."""
        attachment_id = self.ids.next()
        # Discord keeps [A-Za-z0-9._-] in attachment file names and turns the rest into underscores.
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", upload.filename) or "unknown"
        url = self._attachment_url(channel_id, attachment_id, filename)
        attachment = Attachment(attachment_id, filename, upload.content_type, upload.data, url, description, ephemeral)
        self.attachments[attachment_id] = attachment
        return attachment

    def number_components(self, message: Message) -> None:
        """Store components as Discord does: numeric ids (depth first, from 1), unicode emoji as just a name."""
        taken = {c["id"] for c in _walk(message.components) if "id" in c}
        next_id = 1
        for component in _walk(message.components):
            emoji = component.get("emoji")
            if isinstance(emoji, dict) and emoji.get("id") is None:
                component["emoji"] = {"name": emoji.get("name")}
            if "id" not in component:
                while next_id in taken:
                    next_id += 1
                component["id"] = next_id
                taken.add(next_id)

    def build(self, channel_id: int, author: dict, body: dict, files: list[Upload], **extra) -> Message:
        """A new message (not yet stored) from a create-message body."""
        channel = self.world.channels[channel_id]
        message = Message(
            id=self.ids.next(), channel_id=channel_id, author=author, created_at=self.clock.utcnow(),
            guild_id=channel.guild_id, content=body.get("content") or "", embeds=body.get("embeds") or [],
            components=body.get("components") or [], nonce=body.get("nonce"), **extra,
        )
        make = lambda upload, description: self.attach(channel_id, upload, description, message.ephemeral)  # noqa: E731
        message.attachments = attachments_for(body, files, make, [])
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            message.type = 19  # REPLY
            message.message_reference = {"type": 0, "message_id": str(reference["message_id"]),
                                         "channel_id": str(channel_id), "guild_id": str(channel.guild_id)}
        return message

    async def publish(self, message: Message) -> Message:
        """Store a new message and send MESSAGE_CREATE (never for ephemeral messages)."""
        self.number_components(message)
        self.store.add(message)
        if not message.ephemeral:
            self.world.channels[message.channel_id].last_message_id = message.id
            await self.gateway.dispatch("MESSAGE_CREATE", self.event_payload(message), self._intent(message))
        await self._notify()
        return message

    async def edit(self, message: Message, body: dict, files: list[Upload]) -> Message:
        """Apply a PATCH and send MESSAGE_UPDATE with the whole message, as Discord does today."""
        make = lambda upload, description: self.attach(message.channel_id, upload, description, message.ephemeral)  # noqa: E731
        apply_edit(message, body, files, make, self.clock.utcnow())
        self.number_components(message)
        if not message.ephemeral:
            await self.gateway.dispatch("MESSAGE_UPDATE", self.event_payload(message), self._intent(message))
        await self._notify()
        return message

    async def delete(self, message: Message) -> None:
        """Mark deleted and send MESSAGE_DELETE."""
        message.deleted = True
        if not message.ephemeral:
            data = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
            await self.gateway.dispatch("MESSAGE_DELETE", data, self._intent(message))
        await self._notify()

    def event_payload(self, message: Message) -> dict:
        """Gateway message events add guild_id and the author's member object."""
        data = message.payload()
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
            member = self.world.members.get(int(message.author["id"]))
            if member is not None and message.webhook_id is None:
                data["member"] = member.payload(with_user=False)
        return data

    def _intent(self, message: Message) -> int:
        return GUILD_MESSAGES if message.guild_id else DIRECT_MESSAGES

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def _walk(components: list) -> list[dict]:
    """Every component, depth first (action rows before their children)."""
    found = []
    for component in components:
        found.append(component)
        found += _walk(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            found += _walk([component["component"]])
        if isinstance(component.get("accessory"), dict):
            found += _walk([component["accessory"]])
    return found
