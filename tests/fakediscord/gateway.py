"""The Gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME and dispatches over one websocket each."""

import asyncio
import json
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakediscord.state import World

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME, RECONNECT = 0, 1, 2, 3, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
HEARTBEAT_INTERVAL_MS = 41250
# GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED, as an unverified bot has.
APPLICATION_FLAGS = (1 << 15) | (1 << 19)
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 1, 1 << 9, 1 << 12, 1 << 15
# Events a session keeps for RESUME; Discord keeps a bounded backlog too.
RESUME_BACKLOG = 1000


@dataclass(eq=False)
class Connection:
    """One websocket; zlib-stream shares one compressor across the whole connection."""

    ws: web.WebSocketResponse
    compressor: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict) -> None:
        """Send one gateway payload, compressed when the client asked for zlib-stream."""
        text = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            if self.compressor is None:
                await self.ws.send_str(text)
            else:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)


@dataclass(eq=False)
class Session:
    """An identified session: survives its connection so the client can RESUME."""

    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    connection: Connection | None = None
    backlog: list[dict] = field(default_factory=list)


class Gateway:
    """Accepts gateway connections and fans dispatches out to every live session."""

    def __init__(self, world: World, resume_url: Callable[[], str]) -> None:
        self.world = world
        self._resume_url = resume_url
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.compression: list[str | None] = []
        self.identified = asyncio.Event()
        self.identify_count = 0
        self.resume_count = 0

    def live_sessions(self) -> list[Session]:
        """Sessions with an open connection."""
        return [s for s in self.sessions.values() if s.connection is not None]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One websocket connection, from HELLO to close."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        self.compression.append(compress)
        connection = Connection(ws, zlib.compressobj() if compress == "zlib-stream" else None)
        self.connections.add(connection)
        session: Session | None = None
        client_code: int | None = None
        try:
            hello = {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": ["fake-discord"]}
            await connection.send({"op": HELLO, "d": hello, "s": None, "t": None})
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    session = await self._on_payload(connection, session, payload) or session
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    client_code = msg.data if msg.type is WSMsgType.CLOSE else None
                    break
        finally:
            self.connections.discard(connection)
            if session is not None and session.connection is connection:
                session.connection = None
                # A client closing with 1000/1001 ends its session; anything else may be resumed.
                if client_code in (1000, 1001):
                    self.sessions.pop(session.id, None)
            if not self.live_sessions():
                self.identified.clear()
        return ws

    async def _on_payload(self, connection: Connection, session: Session | None, payload: dict) -> Session | None:
        op, data = payload.get("op"), payload.get("d")
        if op == HEARTBEAT:
            await connection.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            return await self._identify(connection, data)
        elif op == RESUME:
            return await self._resume(connection, data)
        elif op == REQUEST_MEMBERS and session is not None:
            await self._send_members(session, data)
        elif op == PRESENCE:
            pass  # presence is not modelled
        return None

    async def _identify(self, connection: Connection, data: dict) -> Session | None:
        if data.get("token") != self.world.token:
            await connection.ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = Session(secrets.token_hex(16), int(data.get("intents", 0)), data.get("shard"), connection=connection)
        self.sessions[session.id] = session
        bot = self.world.bot.payload() | {"verified": True, "mfa_enabled": False, "email": None}
        ready = {
            "v": 10, "user": bot, "guilds": [{"id": str(self.world.guild_id), "unavailable": True}],
            "session_id": session.id, "session_type": "normal", "resume_gateway_url": self._resume_url(),
            "application": {"id": str(self.world.application_id), "flags": APPLICATION_FLAGS},
            "private_channels": [], "relationships": [], "presences": [], "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"], "user_settings": {}, "auth": {}, "_trace": ["fake-discord"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._send_event(session, "READY", ready)
        await self._send_event(session, "GUILD_CREATE", self.world.guild_create_payload(bool(session.intents & GUILD_MEMBERS)))
        self.identify_count += 1
        self.identified.set()
        return session

    async def _resume(self, connection: Connection, data: dict) -> Session | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self.world.token:
            # d=false: the session cannot be resumed, the client must identify again.
            await connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        session.connection = connection
        seen = data.get("seq") or 0
        for event in session.backlog:
            if event["s"] > seen:
                await connection.send(event)
        await self._send_event(session, "RESUMED", {"_trace": ["fake-discord"]})
        self.resume_count += 1
        self.identified.set()
        return session

    async def _send_members(self, session: Session, data: dict) -> None:
        members = [m.payload() for m in self.world.members.values()]
        chunk = {"guild_id": str(self.world.guild_id), "members": members, "chunk_index": 0, "chunk_count": 1, "not_found": []}
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_event(self, session: Session, name: str, data: dict) -> None:
        session.seq += 1
        event = {"op": DISPATCH, "t": name, "s": session.seq, "d": data}
        session.backlog.append(event)
        del session.backlog[:-RESUME_BACKLOG]
        if session.connection is not None:
            await session.connection.send(event)

    async def dispatch(self, name: str, data: dict, intent: int = 0) -> None:
        """Send an event to every session that subscribed to its intent (0: always sent)."""
        for session in list(self.sessions.values()):
            if intent and not session.intents & intent:
                continue
            await self._send_event(session, name, self._redact(session, name, data))

    def _redact(self, session: Session, name: str, data: dict) -> dict:
        # Without MESSAGE_CONTENT, other users' guild messages arrive with their content emptied.
        if not name.startswith("MESSAGE_") or session.intents & MESSAGE_CONTENT or "guild_id" not in data:
            return data
        if data.get("author", {}).get("id") == str(self.world.bot.id) or "content" not in data:
            return data
        return data | {"content": "", "embeds": [], "attachments": [], "components": []}

    async def send_op(self, op: int, d: Any = None) -> None:
        """Send a bare opcode (e.g. RECONNECT) on every open connection."""
        for connection in list(self.connections):
            await connection.send({"op": op, "d": d, "s": None, "t": None})

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every connection from the server side, like a network blip (sessions stay resumable)."""
        for connection in list(self.connections):
            await connection.ws.close(code=code, message=b"fake-discord dropped the connection")

    def forget_sessions(self) -> None:
        """Drop all sessions (a later RESUME gets INVALID_SESSION), the state after a Discord restart."""
        self.sessions.clear()
