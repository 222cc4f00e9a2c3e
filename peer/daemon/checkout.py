"""Working offline: check-out (a final sync, then no syncing) and check-in.

The device's offline flag is a replicated record (``device_status``), so every
device shows who works offline and since when; the data directory's config
says whether this node syncs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from roamsync.peer.org.config import save_config
from roamsync.schema import NodeError, UsageError

if TYPE_CHECKING:
    from roamsync.peer.daemon.node import Node


async def wait_synced(node: Node, within: float) -> list[str]:
    """Wait until some peer is connected and every session is caught up both ways;
    the devices synced with. NodeError if no peer could be reached in time."""
    sessions = node.sessions
    try:
        async with asyncio.timeout(within):
            while not _all_caught_up(node):  # noqa: ASYNC110 (several sessions' state)
                await asyncio.sleep(0.05)
    except TimeoutError:
        reached = ", ".join(s.remote_device for s in sessions.running()) or "no peer"
        raise NodeError(f"could not finish syncing within {within:g} s ({reached})") from None
    return [s.remote_device for s in sessions.running()]


def _all_caught_up(node: Node) -> bool:
    running = node.sessions.running()
    return bool(running) and all(s.caught_up() for s in running)


async def check_out(node: Node, within: float = 30.0, force: bool = False) -> dict[str, Any]:
    """Go offline: a final sync, the offline flag for everyone to see, then no syncing."""
    config = node.config
    if config.offline:
        raise UsageError(f"{config.name} is working offline already")
    synced: list[str] = []
    try:
        synced = await wait_synced(node, within)
    except NodeError:
        if not force:
            raise
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    await _set_status(node, offline=True, since=since)
    if synced:
        await wait_synced(node, within)  # so main and the others see the flag
    config.offline, config.offline_since = True, since
    save_config(node.folder, config)
    await node.stop_network()
    return {"offline_since": since, "synced_with": synced}


async def check_in(node: Node, policy: str = "central", within: float = 30.0) -> dict[str, Any]:
    """Come back: sync, settle this device's conflicts by ``policy``, clear the flag."""
    config = node.config
    if not config.offline:
        raise UsageError(f"{config.name} is not working offline")
    config.offline, config.offline_since = False, ""
    save_config(node.folder, config)
    await node.start_network()
    synced = await wait_synced(node, within)
    settled = await node.peer.apply_policy(policy)
    await _set_status(node, offline=False, since="")
    await wait_synced(node, within)
    running = node.sessions.running()
    mine = [
        c for c in node.peer.conflicts() if any(v["device"] == node.peer.device for v in c.values)
    ]
    return {
        "synced_with": synced,
        "uploaded": sum(s.stats.records_out for s in running),
        "downloaded": sum(s.stats.changed_here for s in running),
        "settled": settled,
        "policy": policy,
        "conflicts": [c.__dict__ for c in mine],
    }


async def _set_status(node: Node, *, offline: bool, since: str) -> None:
    peer = node.peer
    record = f"status-{peer.device}"
    fields = {"offline": offline, "since": since or None}
    if peer.store.state(record) is None:
        await peer.create("device_status", fields, record_id=record)
    else:
        await peer.update("device_status", record, fields)
