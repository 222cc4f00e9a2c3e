"""A channel carries whole frames between two peers, in order.

Two implementations share one contract (``tests/contract/test_channel.py``): the
in-memory pair below, for tests and notebooks, and the aiohttp websocket in
:mod:`roamsync.transport.websocket`.

>>> a, b = memory_pair()
>>> await a.send(b"hi"); await b.recv()       # doctest: +SKIP
b'hi'
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from roamsync.schema import ChannelClosed


class Channel(Protocol):
    async def send(self, frame: bytes) -> None:
        """Send one frame; waits while the other side is slow (bounded buffers).

        Several tasks may send at once (a session's sender and its acks): each
        frame goes whole, and each task's frames in the order it sent them."""

    async def recv(self) -> bytes:
        """The next frame; :class:`ChannelClosed` once the channel is closed."""

    async def close(self) -> None:
        """Close both directions; idempotent."""


_CLOSED = object()


class MemoryChannel:
    """One end of an in-process channel with a bounded queue each way."""

    def __init__(self, inbox: asyncio.Queue[object], outbox: asyncio.Queue[object]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._closed = False

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise ChannelClosed("channel is closed")
        await self._outbox.put(bytes(frame))

    async def recv(self) -> bytes:
        if self._closed:
            raise ChannelClosed("channel is closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._closed = True
            raise ChannelClosed("the other side closed the channel")
        assert isinstance(item, bytes)
        return item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Tell the other side, without waiting on a full queue.
        while True:
            try:
                self._outbox.put_nowait(_CLOSED)
                return
            except asyncio.QueueFull:
                self._outbox.get_nowait()
        # unreachable


def memory_pair(maxsize: int = 16) -> tuple[MemoryChannel, MemoryChannel]:
    """Two connected channel ends; each direction buffers at most ``maxsize`` frames."""
    ab: asyncio.Queue[object] = asyncio.Queue(maxsize)
    ba: asyncio.Queue[object] = asyncio.Queue(maxsize)
    return MemoryChannel(ba, ab), MemoryChannel(ab, ba)
