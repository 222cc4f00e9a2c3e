"""What a replica needs from durable storage: the :class:`Store` protocol and its rows.

A store keeps, per record, the encoded CRDT state (the whole document, which
Yjs keeps compact: a device overwriting its own slot leaves no history), the
resolved view as JSON (so reads never load a document) and the conflict
episodes derived from it. Every save gets the next number of a local change
feed (``seq``), which sync uses to send only what changed since a peer's
checkpoint. :meth:`Store.save` is atomic: the rows and the metadata it is
given are all stored, or none.

Two implementations share one contract suite (``tests/contract/test_store.py``):
:class:`~roamsync.peer.store.sqlite.SqliteStore`, durable, and
:class:`~roamsync.peer.store.memory.MemoryStore`, for tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class RecordRow(NamedTuple):
    """What a store keeps of one record (a named tuple: an initial sync makes 100k)."""

    id: str
    module: str
    state: bytes
    view: bytes
    deleted: bool = False
    needs_number: bool = False
    number: str | None = None
    provisional: str | None = None
    conflicts: tuple[tuple[int, bytes], ...] = ()  # (time, encoded episode)
    origin: str | None = None  # the peer this exact state came from, which need not get it back
    text: str = ""  # what search finds it by (its text fields; none when deleted)
    key: str | None = None  # where lists show it (listing.py); None: not listed (deleted)


# What the search index and the listing keep of a record: (id, module, text, key); an
# empty text is not searched, a key of None is not listed (a deleted record).
IndexEntry = tuple[str, str, str, str | None]


@dataclass(frozen=True)
class Rejection:
    time: int
    record: str
    module: str
    device: str
    reason: str


class Store(Protocol):
    """What a replica needs from durable storage."""

    def save(
        self,
        rows: Iterable[RecordRow],
        meta: Mapping[str, str] = ...,
        *,
        durable: bool = ...,
        index_later: bool = ...,
    ) -> None:
        """Store rows and metadata atomically. ``durable=False``: a crash or power cut may
        lose this save (never half of it), for what is harmless to lose (checkpoints).
        ``index_later``: the rows are queued for the search index and the listing
        (``pending_index``; the replica indexes them before the next search or page, or
        when merges pause); otherwise their ``text`` and ``key`` are indexed now."""

    def state(self, record_id: str) -> bytes | None: ...
    def states(self, record_ids: Iterable[str]) -> dict[str, bytes]: ...
    def view(self, record_id: str) -> bytes | None: ...
    def views(self, module: str) -> list[bytes]: ...
    def find_number(self, module: str, number: str, deleted: bool = False) -> list[bytes]: ...
    def count(self, module: str) -> int: ...
    def numbers(self, module: str) -> list[str]: ...

    needs_index: bool  # made before search or listing: its records are to be indexed

    def search(
        self, module: str, words: Sequence[str], limit: int, offset: int = ...
    ) -> list[bytes]: ...
    def index(self, entries: Iterable[IndexEntry]) -> None: ...
    def rebuild_index(self, entries: Iterable[IndexEntry]) -> None: ...
    def count_listed(self, module: str) -> int: ...
    def page(
        self, module: str, offset: int, limit: int, order: str = ..., descending: bool = ...
    ) -> list[bytes]:
        """Views of live ``module`` records, ``limit`` from ``offset`` in list order:
        ``order`` ``"key"`` (the listing key, ties by id) or ``"changed"`` (the change
        feed's order: last changed here last)."""

    def listed(self, module: str, keys: Sequence[str]) -> list[bytes]:
        """Views of live ``module`` records listed under one of ``keys`` (a quote's or
        order's lines, by its id)."""

    def pending_index(self, limit: int) -> list[tuple[str, str, bytes]]: ...
    def changes(self, after: int, limit: int) -> list[tuple[int, str, bytes]]: ...
    def changed(self, after: int, limit: int) -> list[tuple[int, str, str]]: ...
    def feed(
        self, after: int, limit: int, peer: str
    ) -> tuple[list[tuple[int, str, bytes]], int]: ...
    def system_changes(
        self, after: int, peer: str, modules: Sequence[str]
    ) -> list[tuple[int, str, bytes]]: ...
    def count_feed(self, after: int, peer: str) -> int: ...
    def forget_origin(self, peer: str) -> None: ...
    def last_seq(self) -> int: ...
    def unnumbered(self) -> list[str]: ...
    def conflicts(self) -> list[tuple[str, str, bytes]]: ...
    def reject(self, rejection: Rejection) -> None: ...
    def rejections(self) -> list[Rejection]: ...
    def meta(self, key: str) -> str | None: ...
    def meta_prefix(self, prefix: str) -> dict[str, str]: ...
    def forget(self, keys: Iterable[str]) -> None: ...
    def close(self) -> None: ...
