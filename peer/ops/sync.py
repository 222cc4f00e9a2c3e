"""Operations on syncing: status, devices, the sync log and history, conflicts, offline work."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from roamsync.peer.core.clock import SHIFT, to_millis
from roamsync.peer.core.priority import DELETED
from roamsync.peer.daemon import checkout, journal
from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Ref, Scalar, Seconds
from roamsync.peer.ops.records import record_id
from roamsync.peer.org import registry

Policy = Literal["central", "local", "latest", "manual"]


async def status(node: Node) -> dict[str, Any]:
    """This device, its health (green, yellow, red, with the reason) and its sync peers."""
    peer = node.peer
    peers = []
    names = device_names(node)
    for state in node.sessions.states.values():
        stats = state.session.stats if state.session is not None else None
        peers.append(
            {
                "device": state.device,
                "name": names.get(state.device, state.device),
                "connected": state.session is not None,
                "address": state.address,
                "since": state.connected_since,
                "last_seen": state.last_seen,
                "last_error": state.last_error,
                "behind": peer.last_seq() - peer.checkpoint(state.device),
                "records_in": stats.records_in if stats else 0,
                "records_out": stats.records_out if stats else 0,
            }
        )
    health, reason = _health(node, peers)
    return {
        "device": peer.device,
        "name": node.config.name,
        "role": peer.role,
        "company": node.config.company_name,
        "port": node.port,
        "changes": peer.last_seq(),
        "offline_since": node.config.offline_since or None,
        "health": health,
        "reason": reason,
        "last_error": node.last_error,
        "peers": peers,
    }


REFUSED_WINDOW = 24 * 3600  # seconds: refused updates this recent make the status yellow


def _health(node: Node, peers: list[dict[str, Any]]) -> tuple[str, str]:
    """Green: connected and caught up. Yellow: working offline, alone, refusing updates
    from a device (in the last day), or catching up. Red: the daemon is not running, or
    no peer is connected and the last attempt failed."""
    connected = [p for p in peers if p["connected"]]
    if node.revoked:
        return "red", "disconnected by main: edits made here will not sync"
    if node.config.offline:
        return "yellow", f"working offline since {node.config.offline_since}"
    if not node.serving:
        return "red", "the daemon is not running (roamsync serve)"
    held = node.peer.numbering.held() if node.peer.role == "main" else []
    if held:
        names = device_names(node)
        waiting = ", ".join(sorted(names.get(d, d) for d in held))
        return "yellow", f"restored: final numbers wait until {waiting} have synced"
    if not connected:
        if node.last_error:
            return "red", f"no peer connected; last error: {node.last_error}"
        return "yellow", "no peer connected"
    main = node.config.main_device
    if node.peer.role != "main" and main not in {p["device"] for p in connected}:
        return "yellow", "main is not reachable: offline orders wait for their final numbers"
    refused = _refused_from(node)
    if refused:
        return "yellow", f"refused updates from {refused} in the last day (roamsync rejections)"
    behind = [p["name"] for p in connected if p["behind"] > 0]
    if behind:
        return "yellow", "catching up with " + ", ".join(behind)
    return "green", f"in sync with {len(connected)} peer(s)"


def _refused_from(node: Node) -> str:
    """The devices (by name) whose updates were refused in the last day, with counts."""
    since = int((time.time() - REFUSED_WINDOW) * 1000) << SHIFT
    counts: dict[str, int] = {}
    for rejection in node.peer.rejections():
        if rejection.time >= since:
            counts[rejection.device] = counts.get(rejection.device, 0) + 1
    names = device_names(node)
    return ", ".join(f"{names.get(d, d)} ({n})" for d, n in sorted(counts.items()))


def device_names(node: Node) -> dict[str, str]:
    """Device id -> the name the registry gives it."""
    return {e.device: e.name for e in registry.devices(node.peer)}


def _named(node: Node, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with a ``peer`` device id, each with the peer's ``name`` too."""
    names = device_names(node)
    return [{**row, "name": names.get(row["peer"], row["peer"])} for row in rows]


async def devices(node: Node) -> list[dict[str, Any]]:
    """The registry with who is online now and when each was last seen."""
    rows = []
    for entry in registry.devices(node.peer):
        state = node.sessions.states.get(entry.device)
        online = entry.device == node.peer.device or node.sessions.is_running(entry.device)
        last_seen = state.last_seen if state is not None else None
        offline_since = _offline_since(node, entry.device)
        rows.append(
            {
                "device": entry.device,
                "name": entry.name,
                "role": entry.role,
                "status": entry.status,
                "online": online and offline_since is None,
                "offline_since": offline_since,
                "last_seen": time.time() if online else last_seen,
            }
        )
    return rows


def _offline_since(node: Node, device: str) -> str | None:
    """When the device checked out, from its replicated status record; None if online."""
    if node.peer.store.view(f"status-{device}") is None:
        return None
    status = node.peer.get("device_status", f"status-{device}")
    return str(status["since"]) if status["offline"] else None


async def conflicts(node: Node, pending: bool = False) -> list[dict[str, Any]]:
    """The conflict log (``pending``: only those waiting for a manual decision), each
    writer also named as the registry names it."""
    names = device_names(node)
    rows = []
    for conflict in node.peer.conflicts():
        if pending and conflict.status != "pending":
            continue
        row = dict(conflict.__dict__)
        for version in [*row["values"], row["winner"]]:
            version["name"] = names.get(version["device"], version["device"])
        rows.append(row)
    return rows


async def changes(node: Node, module: Ref, id: Ref) -> list[dict[str, Any]]:
    """Who changed what in a record, newest first: each device's latest write of each
    field, with the person who made it through the web pages (``user``), the device's
    name and the time (UTC, ISO 8601)."""
    names = device_names(node)
    rid = record_id(node, module, id)
    rows = [
        {
            "field": "(record)" if w.field == DELETED else w.field,
            "value": ("deleted" if w.value else "restored") if w.field == DELETED else w.value,
            "user": w.user,
            "device": w.device,
            "name": names.get(w.device, w.device),
            "role": w.role,
            "time": dt.datetime.fromtimestamp(to_millis(w.t) / 1000, tz=dt.UTC).isoformat(
                timespec="seconds"
            ),
            "t": w.t,
        }
        for w in node.peer.writes(module, rid)
        if w.field == DELETED or not w.field.startswith("_")
    ]
    return sorted(rows, key=lambda r: (-r["t"], r["field"]))


async def resolve(
    node: Node, record: Ref, field: Ref, pick: int | None = None, value: Scalar = None
) -> dict[str, Any]:
    """Settle one pending conflict by hand: ``pick`` a listed value or give a ``value``."""
    module = node.peer.module_of(record)
    await node.peer.resolve(module, record, field, pick=pick, value=value)
    return node.peer.get(module, record)


async def offline(node: Node, force: bool = False, within: Seconds = 30.0) -> dict[str, Any]:
    """Check out: a final sync, then work offline (``force``: even if no peer answers)."""
    await node.ensure_started()
    return await checkout.check_out(node, within, force)


async def online(node: Node, policy: Policy = "central", within: Seconds = 30.0) -> dict[str, Any]:
    """Check in: sync, settle this device's conflicts by ``policy``, clear the offline flag."""
    await node.ensure_started()
    return await checkout.check_in(node, policy, within)


async def log(node: Node) -> list[dict[str, Any]]:
    """The sync log: the latest 20 sessions with each peer, newest first."""
    return _named(node, journal.sync_log(node.peer))


async def history(node: Node) -> list[dict[str, Any]]:
    """Records uploaded and downloaded per day and peer over the last 7 days."""
    return _named(node, journal.history(node.peer))
