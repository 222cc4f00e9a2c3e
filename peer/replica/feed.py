"""The replica's change feed and each peer's checkpoint in it.

Every stored change gets the next position (``seq``) of the feed. A sync
session reads the feed from the position its peer acknowledged last (its
*checkpoint*) and moves the checkpoint as acknowledgements come in. Checkpoints
are kept in memory and stored with the next commit (or :meth:`ChangeFeed.flush`):
one lost in a crash only means some records are sent again, which merging
makes harmless, and it saves a durable commit per acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from roamsync.peer.store import Meta, Store
from roamsync.peer.store.meta import Entries

log = logging.getLogger(__name__)

FeedItem = tuple[int, str, bytes]  # (seq, record id, state)


class ChangeFeed:
    def __init__(self, store: Store, meta: Meta) -> None:
        self.store = store
        self.meta = meta
        self._listeners: set[asyncio.Event] = set()
        self._checkpoints: dict[str, int] = {}
        self._unsaved: set[str] = set()

    def last_seq(self) -> int:
        return self.store.last_seq()

    # -- waiting for local changes -------------------------------------------------

    def listen(self) -> asyncio.Event:
        """An event set whenever the feed grows; :meth:`unlisten` when done."""
        event = asyncio.Event()
        self._listeners.add(event)
        return event

    def unlisten(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    def notify(self) -> None:
        """The feed grew: wake every listener."""
        for event in self._listeners:
            event.set()

    # -- reading -----------------------------------------------------------------------

    def changes(self, after: int, limit: int = 500) -> Sequence[FeedItem]:
        """Records changed after position ``after``."""
        return self.store.changes(after, limit)

    def feed(self, peer: str, after: int, limit: int = 500) -> tuple[list[FeedItem], int]:
        """What ``peer`` needs after ``after``, and the position read up to. A record that
        arrived new from ``peer`` and has not changed since is not sent back to it."""
        return self.store.feed(after, limit, peer)

    def count_feed(self, peer: str, after: int) -> int:
        """How many records :meth:`feed` has left for ``peer`` after ``after``."""
        return self.store.count_feed(after, peer)

    # -- checkpoints -----------------------------------------------------------------

    def meet(self, peer: str, store_id: str) -> None:
        """Note the store a peer's hello names. If the peer's store changed since we
        last met (it was repaired), our checkpoint for it is void and so is the rule
        that records which came from it are not sent back: send it everything."""
        known = self.meta.store_of(peer)
        if known == store_id or not store_id:
            return
        entries = Meta.store_of_entry(peer, store_id)
        if known is not None:
            log.warning("%s has a new store (repaired?): sending it every record again", peer)
            self._checkpoints[peer] = 0
            self._unsaved.discard(peer)
            entries |= Meta.checkpoint_entry(peer, 0)
            self.store.forget_origin(peer)
        self.meta.save(entries)

    def checkpoint(self, peer: str) -> int:
        """How far in the feed ``peer`` has acknowledged."""
        if peer not in self._checkpoints:
            self._checkpoints[peer] = self.meta.checkpoint(peer)
        return self._checkpoints[peer]

    def set_checkpoint(self, peer: str, seq: int) -> None:
        """Record an acknowledgement (stored with the next commit)."""
        if seq > self.checkpoint(peer):
            self._checkpoints[peer] = seq
            self._unsaved.add(peer)

    def take_unsaved(self) -> Entries:
        """The checkpoints not stored yet, as entries for the next commit."""
        entries: Entries = {}
        for peer in self._unsaved:
            entries |= Meta.checkpoint_entry(peer, self._checkpoints[peer])
        self._unsaved.clear()
        return entries

    def flush(self) -> None:
        """Store the checkpoints not stored yet, without waiting for the disk: one lost in a
        power cut only means some records are sent again."""
        if self._unsaved:
            self.meta.save(self.take_unsaved(), durable=False)
