"""A replica: durable store, records as CRDT documents, the priority layer, the Peer API."""

from roamsync.peer.arrival import is_provisional
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
