"""The channel contract, run against the in-memory pair and the aiohttp websocket."""

from __future__ import annotations

import asyncio

import pytest

from roamsync.schema import ChannelClosed

from conftest import ChannelPair


async def test_frames_arrive_whole_and_in_order(channel_pair: ChannelPair) -> None:
    a, b = await channel_pair()
    frames = [bytes([i % 256]) * (i * 37 % 5000 + 1) for i in range(50)]

    async def send_all() -> None:
        for frame in frames:
            await a.send(frame)

    sender = asyncio.create_task(send_all())
    got = [await asyncio.wait_for(b.recv(), 5) for _ in frames]
    await sender
    assert got == frames


async def test_two_tasks_sending_at_once(channel_pair: ChannelPair) -> None:
    a, b = await channel_pair()
    big = [bytes([1]) * (100_000 + i) for i in range(20)]  # long enough to wait for room
    small = [bytes([2, i]) for i in range(20)]

    async def send_all(frames: list[bytes]) -> None:
        for frame in frames:
            await a.send(frame)

    senders = asyncio.gather(send_all(big), send_all(small))
    got = [await asyncio.wait_for(b.recv(), 5) for _ in range(40)]
    await senders
    assert [f for f in got if f[0] == 1] == big  # whole, and each task's in order
    assert [f for f in got if f[0] == 2] == small


async def test_both_directions_at_once(channel_pair: ChannelPair) -> None:
    a, b = await channel_pair()
    await asyncio.gather(a.send(b"ping"), b.send(b"pong"))
    assert await asyncio.wait_for(b.recv(), 5) == b"ping"
    assert await asyncio.wait_for(a.recv(), 5) == b"pong"


async def test_a_large_frame(channel_pair: ChannelPair) -> None:
    a, b = await channel_pair()
    big = bytes(range(256)) * 4096  # 1 MiB
    await a.send(big)
    assert await asyncio.wait_for(b.recv(), 5) == big


async def test_close_is_seen_by_the_other_side(channel_pair: ChannelPair) -> None:
    a, b = await channel_pair()
    await a.send(b"last")

    async def read_to_the_end() -> list[bytes]:
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(b.recv(), 5))
            except ChannelClosed:
                return got

    reader = asyncio.create_task(read_to_the_end())  # a reader, as every session has
    await asyncio.wait_for(a.close(), 5)
    await a.close()  # idempotent
    assert await reader == [b"last"]
    with pytest.raises(ChannelClosed):
        await a.send(b"after close")
