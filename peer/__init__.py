"""A replica and the running peer.

Layers, each using only those below it::

    cli/  api/          thin adapters over ops
    ops                 one function per user operation
    daemon/  org/       the running node (sessions, dialer, trust, check-out) / the company
    replica/            Peer: the replica's API, merge pipeline, feed, conflicts, numbers
    store/              durable storage and its metadata
    record/             a record as a Yjs document (the only code that knows pycrdt)
    core/               pure: clock, priority layer, numbering rules
"""

from roamsync.peer.core.numbering import is_provisional
from roamsync.peer.replica import ApplyResult, Conflict, DeviceId, Peer, RecordId
from roamsync.peer.store import MemoryStore, Rejection, SqliteStore, Store

__all__ = [
    "ApplyResult",
    "Conflict",
    "DeviceId",
    "MemoryStore",
    "Peer",
    "RecordId",
    "Rejection",
    "SqliteStore",
    "Store",
    "is_provisional",
]
