"""Working offline: check-out (a final sync, then no syncing) and check-in.

The device's offline flag is a replicated record (``device_status``), so every
device shows who works offline and since when; the data directory's config
says whether this node syncs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from typing import TYPE_CHECKING, Any

from roamsync.peer.org import registry
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
    await node.stop_network()
    config.offline, config.offline_since = True, since
    config.offline_seq = node.peer.last_seq()  # what follows is this device's own
    save_config(node.folder, config)
    return {"offline_since": since, "synced_with": synced}


async def check_in(node: Node, policy: str = "central", within: float = 30.0) -> dict[str, Any]:
    """Come back: sync, settle this device's conflicts by ``policy``, clear the flag.

    Resumable: the device stays offline (its config says so, and so does its status
    record for everyone) until every step is done, and the policy is kept in the
    config from the first try on. A check-in that fails part-way (no peer, the
    daemon killed) is finished by running it again, with the policy first chosen:

    1. note the check-in and its policy in the config (``checking_in``);
    2. go online and sync with the peers (failing here goes offline again);
    3. settle this device's conflicts by the policy (stored at once);
    4. write the status record: online (stored at once);
    5. the config: online, no check-in pending; from here on it syncs;
    6. sync again, so the others see the status (the next sync does it if not now).
    """
    config = node.config
    if not config.offline:
        raise UsageError(f"{config.name} is not working offline")
    if config.checking_in:
        policy = config.checking_in  # a retry finishes what the first try chose
    else:
        config.checking_in = policy
        config.checking_in_changes = node.peer.store.count_feed(config.offline_seq, "")
        save_config(node.folder, config)
    changes = config.checking_in_changes
    _crash_point("noted")
    if not node.serving:
        await node.start_network()
    try:
        synced = await wait_synced(node, within)
    except NodeError as exc:
        await node.stop_network()
        raise NodeError(
            f"{exc}; {config.name} is still offline: run `roamsync online` again to finish"
            f" checking in (policy {policy})"
        ) from None
    except BaseException:
        await node.stop_network()
        raise
    _crash_point("synced")
    downloaded = sum(s.stats.changed_here for s in node.sessions.running())
    open_before = _open_conflicts(node)
    settled = await node.peer.apply_policy(policy)
    _crash_point("settled")
    await _set_status(node, offline=False, since="")
    _crash_point("status")
    config.offline, config.offline_since, config.checking_in = False, "", ""
    config.offline_seq = config.checking_in_changes = 0
    save_config(node.folder, config)
    _crash_point("config")
    told = True
    try:
        await wait_synced(node, within)
    except NodeError:
        told = False  # the status goes with the next sync
    now = [c for c in node.peer.conflicts() if (c.record, c.field) in open_before]
    names = {e.device: e.name for e in registry.devices(node.peer)}
    return {
        "synced_with": [names.get(d, d) for d in synced],
        "uploaded": changes,
        "downloaded": downloaded,
        "settled": settled,
        "policy": policy,
        "told_peers": told,
        "conflicts": [_named(c.__dict__, names) for c in now if c.status != "open"],
    }


CRASH_ENV = "ROAMSYNC_CRASH_AT"  # tests: the daemon kills itself after this check-in step


def _crash_point(step: str) -> None:
    """Fault injection for the tests: SIGKILL this process after ``step`` of a check-in
    when ``ROAMSYNC_CRASH_AT`` names it (never set in normal use)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _named(conflict: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A conflict with each writer also named as the registry names it."""
    for version in [*conflict["values"], conflict["winner"]]:
        version["name"] = names.get(version["device"], version["device"])
    return conflict


def _open_conflicts(node: Node) -> set[tuple[str, str]]:
    """(record, field) of this device's conflicts that wait for its check-in."""
    device = node.peer.device
    return {
        (c.record, c.field)
        for c in node.peer.conflicts()
        if c.status != "resolved" and any(v["device"] == device for v in c.values)
    }


async def _set_status(node: Node, *, offline: bool, since: str) -> None:
    peer = node.peer
    record = f"status-{peer.device}"
    fields = {"offline": offline, "since": since or None}
    if peer.store.state(record) is None:
        await peer.create("device_status", fields, record_id=record)
    else:
        await peer.update("device_status", record, fields)
