"""The documents of recently used records, a bounded LRU.

A loaded document costs about 5 KB, so a replica of 100k records keeps only
the ``size`` most recently used (2,048 by default) and loads the others from
their stored state when it needs them. Reads never need a document: they use
the stored views.
"""

from __future__ import annotations

from collections import OrderedDict

from roamsync.peer.record import RecordDoc
from roamsync.peer.store import Store


class DocCache:
    def __init__(self, store: Store, client_id: int, size: int = 2048) -> None:
        self.store = store
        self.client_id = client_id
        self.size = size
        self._docs: OrderedDict[str, RecordDoc] = OrderedDict()

    def load(self, state: bytes | None = None) -> RecordDoc:
        """A document writing as this replica's Yjs client, from ``state`` (or empty)."""
        return RecordDoc.load(self.client_id, state)

    def get(self, record_id: str) -> RecordDoc | None:
        """The record's document, cached or loaded from the store; ``None`` if there is none."""
        rec = self._docs.get(record_id)
        if rec is not None:
            self._docs.move_to_end(record_id)
            return rec
        state = self.store.state(record_id)
        if state is None:
            return None
        rec = self.load(state)
        self.remember(record_id, rec)
        return rec

    def cached(self, record_id: str) -> RecordDoc | None:
        """The document if it is in the cache (nothing is loaded)."""
        return self._docs.get(record_id)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._docs

    def remember(self, record_id: str, rec: RecordDoc) -> None:
        self._docs[record_id] = rec
        self._docs.move_to_end(record_id)
        while len(self._docs) > self.size:
            self._docs.popitem(last=False)

    def evict(self, record_id: str) -> None:
        """Forget a document (it is behind or ahead of the store)."""
        self._docs.pop(record_id, None)

    def clear(self) -> None:
        self._docs.clear()

    def __len__(self) -> int:
        return len(self._docs)
