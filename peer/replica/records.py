"""A replica's records: their documents and views, and the one path by which changes are stored.

Every change a replica makes (a local write, a merge, a number, a settled
conflict) ends in :meth:`Records.commit`: the records' rows and the metadata
that goes with them (checkpoints, the clock, counters) are stored in one
transaction, and only then are the documents cached and the change feed's
listeners woken. Memory is never ahead of the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from roamsync.peer.core.clock import HybridClock
from roamsync.peer.core.priority import DELETED
from roamsync.peer.record import RecordContent, RecordDoc, Signer, signed_claim
from roamsync.peer.replica.arrival import Arrival
from roamsync.peer.replica.cache import DocCache
from roamsync.peer.replica.feed import ChangeFeed
from roamsync.peer.replica.lines import check_parent
from roamsync.peer.replica.listing import list_key
from roamsync.peer.replica.rows import Ignored, ignored, search_text, view_row
from roamsync.peer.store import Meta, Rejection, Store
from roamsync.peer.store.base import IndexEntry
from roamsync.peer.store.meta import Entries
from roamsync.schema import (
    MODULES,
    FieldType,
    JsonValue,
    Module,
    RecordNotFoundError,
    RecordTooLargeError,
    StoreError,
)
from roamsync.schema.fields import MAX_RECORD, decode_value

log = logging.getLogger(__name__)

RecordView = dict[str, Any]


class Records:
    def __init__(
        self,
        store: Store,
        cache: DocCache,
        feed: ChangeFeed,
        clock: HybridClock,
        *,
        device: str,
        role: str,
        signer: Signer | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.feed = feed
        self.clock = clock
        self.device = device
        self.role = role
        self.signer = signer
        # The claims of this store's two Yjs clients, signed once: the same in every record.
        client = cache.client_id
        self.claims = (
            {}
            if signer is None
            else {c: signed_claim(device, role, c, signer) for c in (client, client + 1)}
        )

    # -- reading ------------------------------------------------------------------------

    def view(self, record_id: str) -> RecordView | None:
        """The stored view of a record (deleted ones too), or ``None``."""
        raw = self.store.view(record_id)
        return None if raw is None else load_view(raw)

    def index_pending(self, limit: int = 1_000_000) -> int:
        """Index up to ``limit`` records that merges queued for search and the listing;
        how many."""
        pending = self.store.pending_index(limit)
        if pending:
            self.store.index((rid, module, *_indexed(module, raw)) for rid, module, raw in pending)
        return len(pending)

    def index_entries(self) -> Iterator[IndexEntry]:
        """(id, module, text, key) of every live record, for a store made before search
        or the listing."""
        for name, mod in MODULES.items():
            for raw in self.store.views(name):
                view = load_view(raw)
                fields = view["fields"]
                yield view["id"], name, search_text(mod, fields), list_key(mod, fields)

    def live_view(self, module: str, record_id: str) -> RecordView:
        """The view of a live record of ``module``; RecordNotFoundError otherwise."""
        view = self.view(record_id)
        if view is None or view["module"] != module or view["deleted"]:
            raise RecordNotFoundError(module, record_id)
        return view

    def doc(self, record_id: str) -> RecordDoc | None:
        return self.cache.get(record_id)

    def live(self, module: str, record_id: str) -> RecordDoc:
        """The document of a live record of ``module``; RecordNotFoundError otherwise."""
        rec = self.doc(record_id)
        if rec is None or rec.module != module:
            raise RecordNotFoundError(module, record_id)
        self.live_view(module, record_id)
        return rec

    def check_references(self, mod: Module, values: Mapping[str, JsonValue]) -> None:
        """Every reference in ``values`` names a live record of its target module."""
        for name, value in values.items():
            field = mod.fields.get(name)
            if field is None or field.type is not FieldType.REFERENCE or value is None:
                continue
            self.live_view(str(field.target), str(value))
        check_parent(self.role, self.device, mod.name, values, self.creator_of)

    def creator_of(self, record_id: str) -> str | None:
        view = self.view(record_id)
        return None if view is None else view.get("creator")

    # -- writing ------------------------------------------------------------------------

    def write(
        self,
        record_id: str,
        rec: RecordDoc,
        mod: Module,
        t: int,
        values: Mapping[str, JsonValue],
        **resolution: Any,
    ) -> None:
        """Write ``values`` into the record's document as this device, at time ``t``
        (signed, if this replica has a signer)."""
        notes = mod.notes
        plain = {k: v for k, v in values.items() if k == DELETED or k not in notes}
        signed = None if self.signer is None else (record_id, self.signer)
        writes_notes = any(name != DELETED and name in notes for name in values)
        with rec.doc.transaction():
            rec.claim_client(self.device, self.role, self.claims, notes=writes_notes)
            rec.put(self.device, self.role, t, plain, signed=signed, **resolution)
        for name, value in values.items():
            if name != DELETED and name in notes:
                rec.set_note(name, str(value or ""))

    def commit(
        self,
        records: Iterable[tuple[str, RecordContent | Arrival]],
        entries: Entries | None = None,
        *,
        report: bool = False,
        origins: Mapping[str, str] = {},
        states: Mapping[str, bytes] = {},
        check_size: bool = True,
    ) -> None:
        """Store records (and metadata entries) in one transaction, then cache their
        documents and wake the feed's listeners.

        ``check_size``: a document over :data:`MAX_RECORD` is a
        :class:`RecordTooLargeError` and nothing is stored (a local write that would
        make it so; merged ones were refused before).

        An :class:`Arrival` brings its row; a record without a document (a
        :class:`~roamsync.peer.record.RecordSnapshot`) needs its state in ``states``.
        ``report``: log and record the writes the matrix made the priority layer ignore
        (a merge: it is indexed for search and the listing later, :meth:`index_pending`).
        """
        records = list(records)
        if check_size:
            self._check_sizes(records)
        rows = []
        latest = 0
        for record_id, rec in records:
            if isinstance(rec, Arrival):
                assert rec.row is not None, "only ready arrivals are stored"
                row, record_latest, skipped = rec.row, rec.latest, rec.ignored
            else:
                state = states.get(record_id)
                if state is None:
                    assert isinstance(rec, RecordDoc), "a snapshot's state is the update it came in"
                    state = rec.encode()
                row, resolved = view_row(record_id, rec, state, origins.get(record_id))
                record_latest, skipped = resolved.latest, ignored(resolved)
            if not report:  # a local write is indexed (search, listing) in its own commit
                text, key = _indexed(row.module, row.view)
                row = row._replace(text=text, key=key)
            rows.append(row)
            latest = max(latest, record_latest)
            if report and skipped:
                self._report_ignored(record_id, row.module, skipped)
        self.clock.observe(latest)
        if not rows and not entries:
            return  # nothing changed: no durable commit (the clock is saved with the next)
        all_entries = {**(entries or {}), **self.feed.take_unsaved()}
        all_entries |= Meta.hlc_entry(self.clock.last)
        try:
            self.store.save(rows, all_entries, index_later=report)  # merges: indexed later
        except StoreError:
            for record_id, _ in records:
                self.cache.evict(record_id)  # memory must never be ahead of the store
            raise
        for record_id, rec in records:
            if isinstance(rec, RecordDoc):
                self.cache.remember(record_id, rec)
            else:
                self.cache.evict(record_id)  # a stale document must not shadow the stored state
        if rows:
            self.feed.notify()

    def _check_sizes(self, records: Sequence[tuple[str, RecordContent | Arrival]]) -> None:
        for record_id, rec in records:
            if isinstance(rec, RecordDoc) and len(rec.encode()) > MAX_RECORD:
                for other, _ in records:
                    self.cache.evict(other)  # memory must never be ahead of the store
                size = len(rec.encode())
                raise RecordTooLargeError(str(rec.module), record_id, size, MAX_RECORD)

    # -- refused writes -------------------------------------------------------------------

    def reject(self, record_id: str, module: str, source: str, reason: str) -> None:
        """Log and record an update from ``source`` that was refused."""
        log.warning("rejected update for record %s from %s: %s", record_id, source, reason)
        self.store.reject(Rejection(self.clock.now(), record_id, module, source, reason))

    def _report_ignored(self, record_id: str, module: str, writes: Sequence[Ignored]) -> None:
        """Log and record the writes the matrix made the priority layer ignore, once each."""
        old = self.view(record_id)
        known = set(map(tuple, old.get("rejected", []))) if old else set()
        for w in writes:
            if (w.device, w.field, w.t) not in known:
                reason = f"a {w.role} device may not {'delete' if w.field == DELETED else 'edit'}"
                reason += f" this {module} record (field {w.field!r})"
                log.warning("ignored write to %s by %s: %s", record_id, w.device, reason)
                self.store.reject(Rejection(w.t, record_id, module, w.device, reason))


def _indexed(module: str, raw: bytes) -> tuple[str, str | None]:
    """What search finds a stored record by, and its list key (nothing, once deleted)."""
    view = load_view(raw)
    if view["deleted"]:
        return "", None
    mod = MODULES[module]
    return search_text(mod, view["fields"]), list_key(mod, view["fields"])


def load_view(raw: bytes) -> RecordView:
    view: RecordView = orjson.loads(raw)
    return view


def present(mod: Module, view: Mapping[str, Any]) -> RecordView:
    """A view as the API returns it: ``id`` and every field, decoded."""
    fields = view["fields"]
    out: RecordView = {"id": view["id"]}
    for name, field in mod.fields.items():
        out[name] = decode_value(field, fields.get(name))
    return out
