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
from dataclasses import asdict, dataclass, replace
from typing import Any

from roamsync.peer.replica import Peer
from roamsync.peer.store import Meta

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
    rows = [*peer.meta.sync_log(entry.peer), asdict(entry)][-LOG_KEEP:]
    entries = Meta.sync_log_entry(entry.peer, rows)
    if entry.sent or entry.received:
        day = dt.date.fromtimestamp(entry.ended).isoformat()
        old = peer.meta.day_count(day, entry.peer)
        count = replace(old, up=old.up + entry.sent, down=old.down + entry.received)
        entries |= Meta.day_count_entry(day, entry.peer, replace(count, last=entry.ended))
    peer.meta.save(entries)


def sync_log(peer: Peer) -> list[dict[str, Any]]:
    """The latest sessions with every peer, newest first."""
    return sorted(peer.meta.sync_logs(), key=lambda r: r["ended"], reverse=True)


def _oldest_day(now: float | None) -> str:
    today = dt.date.fromtimestamp(now if now is not None else time.time())
    return (today - dt.timedelta(days=HISTORY_DAYS - 1)).isoformat()


def history(peer: Peer, now: float | None = None) -> list[dict[str, Any]]:
    """Records uploaded and downloaded per day and peer over the last 7 days."""
    oldest = _oldest_day(now)
    rows = [
        {"day": day, "peer": device, **asdict(count)}
        for (day, device), count in peer.meta.day_counts().items()
        if day >= oldest
    ]
    return sorted(rows, key=lambda r: (r["day"], r["peer"]), reverse=True)


def prune_history(peer: Peer, now: float | None = None) -> int:
    """Forget days older than the history keeps; how many entries went."""
    oldest = _oldest_day(now)
    old = [key for key in peer.meta.day_counts() if key[0] < oldest]
    peer.meta.forget_days(old)
    return len(old)
