"""The websocket channel: one aiohttp websocket per pair of peers, binary frames only.

Compression is off (record states are small and already compact; compressing
costs CPU on every frame), frames are capped at the protocol's ``MAX_FRAME``,
and a heartbeat notices a peer that vanished without closing.
"""

from __future__ import annotations

import logging
import re
import ssl

import aiohttp
from aiohttp import WSMsgType, web

from roamsync.schema import ChannelClosed, ProtocolError
from roamsync.transport.protocol import MAX_FRAME

log = logging.getLogger(__name__)

HEARTBEAT = 10.0
SYNC_PATH = "/sync"

WebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


class WebSocketChannel:
    """A :class:`~roamsync.transport.channel.Channel` over an aiohttp websocket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def send(self, frame: bytes) -> None:
        if self.ws.closed:
            raise ChannelClosed("websocket is closed")
        try:
            await self.ws.send_bytes(frame)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise ChannelClosed(f"websocket send failed: {exc}") from exc

    async def recv(self) -> bytes:
        msg = await self.ws.receive()
        if msg.type is WSMsgType.BINARY:
            data: bytes = msg.data
            return data
        if msg.type is WSMsgType.TEXT:
            raise ProtocolError("text frame on a binary protocol")
        if msg.type is WSMsgType.ERROR:
            log.warning("websocket error: %s", self.ws.exception())
        raise ChannelClosed(f"websocket closed ({msg.type.name})")

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()


async def accept(request: web.Request) -> WebSocketChannel:
    """Upgrade an incoming HTTP request to a sync channel."""
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_FRAME, heartbeat=HEARTBEAT)
    await ws.prepare(request)
    return WebSocketChannel(ws)


async def connect(
    session: aiohttp.ClientSession,
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    close_timeout: float = 10.0,
) -> WebSocketChannel:
    """Open a sync channel to ``url`` (``ws://host:port/sync`` or ``wss://``)."""
    try:
        ws = await session.ws_connect(
            url,
            compress=0,
            max_msg_size=MAX_FRAME,
            heartbeat=HEARTBEAT,
            ssl=ssl_context if ssl_context is not None else True,
            timeout=aiohttp.ClientWSTimeout(ws_close=close_timeout),
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ChannelClosed(f"cannot connect to {url}: {readable(exc)}") from exc
    return WebSocketChannel(ws)


_OBJECT_REPR = re.compile(r"(ssl:)?<[\w.]+ object at 0x[0-9a-f]+>")


def readable(exc: BaseException) -> str:
    """An exception's text for people: without object reprs such as
    ``ssl:<ssl.SSLContext object at 0x7f...>`` (aiohttp puts one in its errors)."""
    text = _OBJECT_REPR.sub("", str(exc)).replace("  ", " ").strip()
    return text or type(exc).__name__
