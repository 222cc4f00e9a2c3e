"""Durable storage of a replica.

* :mod:`.base`: the :class:`Store` protocol and the rows it keeps;
* :mod:`.sqlite`: the durable store, one SQLite file; :mod:`.memory`: one in memory;
* :mod:`.meta`: typed accessors for every metadata key;
* :mod:`.files`: atomic writes and the data directory's lock;
* :mod:`.salvage`: reading record rows out of a damaged file, page by page.
"""

from roamsync.peer.store.base import RecordRow, Rejection, Store
from roamsync.peer.store.memory import MemoryStore
from roamsync.peer.store.meta import Meta
from roamsync.peer.store.sqlite import STORE_FILE, SqliteStore

__all__ = ["STORE_FILE", "MemoryStore", "Meta", "RecordRow", "Rejection", "SqliteStore", "Store"]
