"""Shared fixtures: peers in temporary directories with a deterministic clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import settings

from roamsync.peer import Peer
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry
from roamsync.peer.org.config import load_config, save_config
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.transport.channel import Channel, memory_pair
from roamsync.transport.websocket import SYNC_PATH, accept, connect

OpenPeer = Callable[..., Awaitable[Peer]]


# Hypothesis draws the same examples on every run (a fixed seed per test): a failure in CI
# fails again here. HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))


def pytest_report_header() -> str:
    profile = os.environ.get("HYPOTHESIS_PROFILE", "fixed")
    return (
        f"hypothesis profile: {profile} (fixed: the same examples every run); seeds of the "
        "chaos, load and kill -9 runs: 20261202 unless ROAMSYNC_*_SEED"
    )


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait for a condition that spans several peers or nodes, polling; bounded in time."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (no single event covers every peer's state)
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def loop_turns() -> AsyncIterator[list[int]]:
    """``turns[0]``: how many turns of the event loop other work got inside the block (a
    task that only yields, counting)."""
    turns = [0]

    async def tick() -> None:
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(tick())
    await asyncio.sleep(0)
    turns[0] = 0
    try:
        yield turns
    finally:
        task.cancel()


class FakeClock:
    """Wall time that moves 1 ms per reading, shared by all peers of a test."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.ticks = itertools.count()
        self.start = start

    def __call__(self) -> float:
        return self.start + next(self.ticks) / 1000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def open_peer(tmp_path: Path, clock: FakeClock) -> AsyncIterator[OpenPeer]:
    """``await open_peer("laptop-1", "travel")`` opens (or reopens) a peer in tmp_path."""
    opened: list[Peer] = []

    async def _open(device: str, role: str = "office", **options: object) -> Peer:
        options.setdefault("clock", clock)
        peer = await Peer.open(tmp_path / device, device=device, role=role, **options)
        opened.append(peer)
        return peer

    yield _open
    for peer in opened:
        await peer.close()


ChannelPair = Callable[[], Awaitable[tuple[Channel, Channel]]]


@pytest.fixture(params=["memory", "websocket"])
async def channel_pair(request: pytest.FixtureRequest) -> AsyncIterator[ChannelPair]:
    """``await channel_pair()`` makes two connected channel ends of the parametrized kind."""
    if request.param == "memory":

        async def _memory() -> tuple[Channel, Channel]:
            return memory_pair()

        yield _memory
        return
    accepted: asyncio.Queue[Channel] = asyncio.Queue()
    done = asyncio.Event()

    async def handler(req: web.Request) -> web.StreamResponse:
        channel = await accept(req)
        await accepted.put(channel)
        await done.wait()  # keep the handler (and so the socket) alive until the test ends
        await channel.close()
        assert isinstance(channel.ws, web.WebSocketResponse)  # accept() made it
        return channel.ws

    app = web.Application()
    app.router.add_get(SYNC_PATH, handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = aiohttp.ClientSession()
    opened: list[Channel] = []

    async def _websocket() -> tuple[Channel, Channel]:
        near = await connect(client, f"http://127.0.0.1:{port}{SYNC_PATH}")
        far = await asyncio.wait_for(accepted.get(), 5)
        opened.extend([near, far])
        return near, far

    yield _websocket
    done.set()
    for channel in opened:
        await channel.close()
    await client.close()
    await runner.cleanup()


PROFILE = {  # the connection criteria: enrolment needs a complete company profile
    "address": "Storgata 1, 0155 Oslo",
    "phone": "+47 22 00 00 00",
    "email": "post@acme.no",
    "org_number": "912 345 678",
}


class Company:
    """A main node and the devices it enrols, each in its own folder, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"Acme {uuid.uuid4().hex[:6]}"
        self.nodes: list[Node] = []

    async def start(self, folder: Path | str, discovery: bool = False) -> Node:
        node = await Node.open(self.root / folder)
        await node.start(discovery=discovery)
        self.nodes.append(node)
        return node

    async def stop_one(self, node: Node) -> None:
        self.nodes.remove(node)
        async with asyncio.timeout(10):  # a hung stop fails here, not at the suite's timeout
            await node.stop()

    async def main(self, discovery: bool = False) -> Node:
        await init_directory(
            self.root / "hq",
            name="hq",
            role="main",
            company_name=self.name,
            port=0,
            profile=PROFILE,
        )
        return await self.start("hq", discovery)

    async def add(self, hq: Node, name: str, role: str = "office", discovery: bool = False) -> Node:
        folder = self.root / name
        await init_directory(folder, name=name, role=role, company_name=self.name, port=0)
        code = registry.invite(hq.peer, hq.identity.fingerprint, role)
        await join_company(folder, code, f"127.0.0.1:{hq.port}")
        if discovery:  # found by discovery, not configured
            config = load_config(folder)
            config.peers = []
            save_config(folder, config)
        return await self.start(folder, discovery)

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()


@pytest.fixture
async def company(tmp_path: Path) -> AsyncIterator[Company]:
    c = Company(tmp_path)
    yield c
    await c.stop()
