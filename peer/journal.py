"""What a device remembers of its syncing: the sync log and the daily history.

* Sync log: the latest 20 sync sessions per remote device (start, end, peer,
  records sent and received, status, the error where one failed).
* History: records uploaded and downloaded per day and peer, for 7 days.

Both are local to the device (they describe its own sessions) and live in the
store's metadata, so they survive restarts; older entries are pruned when new
ones are written.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from roamsync.peer.replica import Peer

LOG_KEEP = 20
HISTORY_DAYS = 7


@dataclass(frozen=True)
class SyncEntry:
    peer: str
    started: float
    ended: float
    sent: int
    received: int
    status: str  # "ok" or "failed"
    error: str | None = None


def record_session(peer: Peer, entry: SyncEntry) -> None:
    """Add a session to the log (keeping the latest 20 for that peer) and the history."""
    key = f"synclog:{entry.peer}"
    entries = orjson.loads(peer.store.meta(key) or "[]")
    entries = [*entries, asdict(entry)][-LOG_KEEP:]
    updates = {key: orjson.dumps(entries).decode()}
    if entry.sent or entry.received:
        updates.update(_count(peer, entry.peer, entry.sent, entry.received, entry.ended))
    peer.store.save([], updates)


def _count(peer: Peer, device: str, up: int, down: int, when: float) -> dict[str, str]:
    day = dt.date.fromtimestamp(when).isoformat()
    key = f"history:{day}:{device}"
    old = orjson.loads(peer.store.meta(key) or '{"up": 0, "down": 0}')
    body = {"up": old["up"] + up, "down": old["down"] + down, "last": when}
    return {key: orjson.dumps(body).decode()}


def sync_log(peer: Peer) -> list[dict[str, Any]]:
    """The latest sessions with every peer, newest first."""
    rows = [row for raw in peer.store.meta_prefix("synclog:").values() for row in orjson.loads(raw)]
    return sorted(rows, key=lambda r: r["ended"], reverse=True)


def history(peer: Peer, now: float | None = None) -> list[dict[str, Any]]:
    """Records uploaded and downloaded per day and peer over the last 7 days."""
    today = dt.date.fromtimestamp(now if now is not None else time.time())
    oldest = (today - dt.timedelta(days=HISTORY_DAYS - 1)).isoformat()
    rows = []
    for key, raw in peer.store.meta_prefix("history:").items():
        _, day, device = key.split(":", 2)
        if day >= oldest:
            rows.append({"day": day, "peer": device, **orjson.loads(raw)})
    return sorted(rows, key=lambda r: (r["day"], r["peer"]), reverse=True)


def prune_history(peer: Peer, now: float | None = None) -> int:
    """Forget days older than the history keeps; how many entries went."""
    today = dt.date.fromtimestamp(now if now is not None else time.time())
    oldest = (today - dt.timedelta(days=HISTORY_DAYS - 1)).isoformat()
    old = [k for k in peer.store.meta_prefix("history:") if k.split(":", 2)[1] < oldest]
    if old:
        peer.store.forget(old)
    return len(old)
