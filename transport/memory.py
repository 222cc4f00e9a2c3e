"""Sync two replicas in one process: two real sessions over the in-memory channel.

>>> await sync(office, laptop)   # doctest: +SKIP
SyncReport(a_to_b=12, b_to_a=3, records=15, frames=8)

It is the production protocol, frame for frame (hello, ``Pending``, ``Changes``,
acks, checkpoints, echo suppression), only without a network: tests, the
Hypothesis convergence test and the notebook use it. The sessions run until
both are caught up, so numbers that main assigns during the sync reach the
other side in the same call, then the channel is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from roamsync.schema import ChannelClosed, SessionRefused
from roamsync.transport.channel import memory_pair
from roamsync.transport.replica import Replica
from roamsync.transport.session import Session

TIMEOUT = 120.0  # seconds; a sync that takes longer has hung


@dataclass(frozen=True)
class SyncReport:
    a_to_b: int  # records that changed on b
    b_to_a: int  # records that changed on a
    records: int  # record states carried, both ways
    frames: int  # frames carried, both ways (hellos, acks and Pending included)
    skipped: int = 0  # records too large for any frame, not sent, both ways


async def sync(a: Replica, b: Replica, batch: int = 500) -> SyncReport:
    """One full two-way sync between two open replicas; ``TimeoutError`` if it hangs."""
    near, far = memory_pair()
    # No anti-entropy pass: the sync ends as soon as both sides are caught up.
    sessions = [Session(r, ch, batch=batch, anti_entropy=3600) for r, ch in ((a, near), (b, far))]
    tasks = [asyncio.create_task(s.run()) for s in sessions]
    try:
        async with asyncio.timeout(TIMEOUT):
            await _until_caught_up(sessions, tasks)
    finally:
        await near.close()
        await far.close()
        for task in tasks:
            with contextlib.suppress(ChannelClosed):
                await task
    ab, ba = sessions[1].stats, sessions[0].stats
    carried, frames = ab.records_in + ba.records_in, ab.frames_in + ba.frames_in
    skipped = ab.skipped + ba.skipped
    return SyncReport(ab.changed_here, ba.changed_here, carried, frames, skipped)


async def _until_caught_up(sessions: list[Session], tasks: list[asyncio.Task[None]]) -> None:
    while not all(s.caught_up() for s in sessions):
        for s in sessions:
            s.activity.clear()
        waits = [asyncio.ensure_future(s.activity.wait()) for s in sessions]
        try:
            await asyncio.wait([*waits, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        for task in tasks:
            if task.done():
                task.result()  # a refused hello or a failed session: raise it here
                raise SessionRefused("a session ended before the sync was done")
