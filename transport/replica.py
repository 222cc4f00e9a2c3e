"""What a sync session needs from the replica it syncs: :class:`Replica`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

Prepared = asyncio.Future[Any]  # a batch the replica started reading ahead (Replica.prepare)
FeedItem = tuple[int, str, bytes]  # (position in the feed, record id, record state)


class Applied(Protocol):
    @property
    def changed(self) -> int:
        """How many records the batch changed here."""


class Replica(Protocol):
    """What a session needs from the replica it syncs (``roamsync.peer.Peer`` is one).

    The session reads the replica's change feed from the remote's checkpoint,
    sends it, moves the checkpoint as acks come in, waits for local changes,
    and hands the remote's batches to the replica to merge and store.
    """

    @property
    def device(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def store_id(self) -> str:
        """The replica's store: a repaired one has a new id, and peers then resend all."""

    @property
    def closed(self) -> bool: ...

    def meet(self, peer: str, store_id: str) -> None:
        """The remote's hello named this store."""

    def feed(self, peer: str, after: int, limit: int) -> tuple[Sequence[FeedItem], int]:
        """Up to ``limit`` changes for ``peer`` after position ``after``, and the position
        read up to."""

    def first(self, peer: str, after: int) -> Sequence[FeedItem]:
        """Changes after ``after`` that ``peer`` should have before the rest of the feed
        (those that check the rest): sent first, and not again in their place."""

    def count_feed(self, peer: str, after: int) -> int:
        """How many changes :meth:`feed` has left for ``peer`` (for progress)."""

    def last_seq(self) -> int:
        """The feed's last position."""

    def checkpoint(self, peer: str) -> int:
        """How far ``peer`` has acknowledged the feed."""

    def set_checkpoint(self, peer: str, seq: int) -> None: ...
    def flush_checkpoints(self) -> None: ...

    def listen(self) -> asyncio.Event:
        """An event set whenever the feed grows (until :meth:`unlisten`)."""

    def unlisten(self, event: asyncio.Event) -> None: ...

    def expect(self, count: int) -> None:
        """The remote announced ``count`` records."""

    def prepare(self, items: Sequence[tuple[str, bytes]], source: str) -> Prepared | None:
        """Start reading a batch ahead of :meth:`apply_remote` (``None``: not worth it)."""

    async def apply_remote(
        self, items: Sequence[tuple[str, bytes]], source: str, prepared: Prepared | None
    ) -> Applied:
        """Merge and durably store a batch from ``source``."""
