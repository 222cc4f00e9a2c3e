"""Shared fixtures: peers in temporary directories with a deterministic clock."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from roamsync.peer import Peer

OpenPeer = Callable[..., Awaitable[Peer]]


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
