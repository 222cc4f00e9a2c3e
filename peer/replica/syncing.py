"""The sync side of a :class:`~.peer.Peer`: the :class:`~roamsync.transport.replica.Replica`
protocol a sync session needs, the check of what other devices send, and main's seals."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from roamsync.peer.record import Keys
from roamsync.peer.record.signing import SEAL_SIZE, encode_seal
from roamsync.peer.replica.feed import ChangeFeed, FeedItem
from roamsync.peer.replica.merge import ApplyResult, Merger, Prepared
from roamsync.peer.replica.seals import SEAL_MODULE, SEAL_PREFIX, Seals
from roamsync.peer.store import Meta, Store

Feed = tuple[list[FeedItem], int]
FIRST_MODULES = ("devices", SEAL_MODULE)  # what a peer sends first (Syncing.first)
READERS = 10.0  # seconds after a page or search during which a merge indexes at once


class Syncing:
    """What :class:`~.peer.Peer` does for sync sessions (a part of it, not used alone)."""

    store: Store
    meta: Meta
    role: str
    changefeed: ChangeFeed
    merger: Merger
    seals: Seals
    read_at: float  # time.monotonic() of the last page or search (Peer.indexed)
    _closed: bool

    if TYPE_CHECKING:

        def _check_open(self) -> None: ...

        async def index_queued(self) -> None: ...

        async def create(
            self, module: str, fields: Mapping[str, object], *, record_id: str | None = None
        ) -> str: ...

    def verify_with(self, keys: Keys) -> None:
        """Check what other devices send against the registry's keys (signing.py)."""
        self.merger.keys = keys
        if self.role == "main":  # what the worker verifies, main seals
            self.merger.preparer.on_verified = self.seals.add_blob

    def merging(self, within: float = 1.0) -> bool:
        """Whether a batch from a peer was merged in the last ``within`` seconds."""
        return time.monotonic() - self.merger.last_merge < within

    async def seal(self, minimum: int = 1) -> int:
        """Main: write the digests of the slots it signed or verified since the last seal
        as seal records, if there are at least ``minimum``; how many records it wrote."""
        self._check_open()
        if self.role != "main" or len(self.seals) < max(minimum, 1):
            return 0
        digests = self.seals.take()
        written = 0
        for start in range(0, len(digests), SEAL_SIZE):
            chunk = digests[start : start + SEAL_SIZE]
            record_id = SEAL_PREFIX + secrets.token_hex(10)
            await self.create(SEAL_MODULE, {"hashes": encode_seal(chunk)}, record_id=record_id)
            written += 1
        return written

    # -- sync: the transport.replica.Replica protocol --------------------------------

    @property
    def store_id(self) -> str:
        """This replica's store: a repaired device has a new one (sent in the hello)."""
        return self.meta.store_id()

    def last_seq(self) -> int:
        return self.changefeed.last_seq()

    def listen(self) -> asyncio.Event:
        """An event set whenever the change feed grows; :meth:`unlisten` when done."""
        return self.changefeed.listen()

    def unlisten(self, event: asyncio.Event) -> None:
        self.changefeed.unlisten(event)

    def changes(self, after: int, limit: int = 500) -> Sequence[FeedItem]:
        """Records changed after local change-feed position ``after``: (seq, id, state)."""
        self._check_open()
        return self.changefeed.changes(after, limit)

    def feed(self, peer: str, after: int, limit: int = 500) -> Feed:
        """What ``peer`` needs from the feed after ``after``: (seq, id, state) items and the
        position read up to."""
        self._check_open()
        return self.changefeed.feed(peer, after, limit)

    def first(self, peer: str, after: int) -> Sequence[FeedItem]:
        """Records ``peer`` should have before the rest of the feed after ``after``: the
        registry and main's seals changed since, which check the rest (sent first, once)."""
        self._check_open()
        return self.store.system_changes(after, peer, FIRST_MODULES)

    def count_feed(self, peer: str, after: int) -> int:
        """How many records :meth:`feed` has left for ``peer`` after ``after``."""
        return self.changefeed.count_feed(peer, after)

    def meet(self, peer: str, store_id: str) -> None:
        """Note the store a peer's hello names (a repaired peer gets everything again)."""
        self.changefeed.meet(peer, store_id)

    def checkpoint(self, peer: str) -> int:
        """How far in this replica's change feed ``peer`` has acknowledged."""
        return self.changefeed.checkpoint(peer)

    def set_checkpoint(self, peer: str, seq: int) -> None:
        """Record an acknowledgement (stored with the next commit, or a flush)."""
        self.changefeed.set_checkpoint(peer, seq)

    def flush_checkpoints(self) -> None:
        if not self._closed:
            self.changefeed.flush()

    def prepare(self, items: Sequence[tuple[str, bytes]], source: str = "") -> Prepared | None:
        """Start reading a large batch in a worker process, for :meth:`apply_remote` to use
        (``None`` if the batch is small or there is no worker)."""
        return self.merger.prepare(items, source)

    def expect(self, count: int) -> None:
        """A peer says ``count`` records are coming: make ready to read them."""
        self.merger.expect(count)

    async def apply_remote(
        self,
        items: Sequence[tuple[str, bytes]],
        source: str = "",
        prepared: Prepared | None = None,
    ) -> ApplyResult:
        """Merge record updates from another replica, store them, and (on main)
        number the provisional quotes and orders that arrived. ``prepared``: what
        :meth:`prepare` started for these same items."""
        self._check_open()
        arrivals = await self.merger.preparer.result(prepared)
        self._check_open()
        arrivals = await self.merger.check_ahead(items, source, arrivals)
        self._check_open()
        result = self.merger.merge(items, source, arrivals)
        if time.monotonic() - self.read_at < READERS:
            await self.index_queued()
        return result
