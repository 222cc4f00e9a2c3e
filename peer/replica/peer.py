"""A replica: the public :class:`Peer` API over the store, the records and the priority layer.

>>> async def example(path):
...     async with await Peer.open(path, device="laptop-1", role="travel") as peer:
...         acme = await peer.create("contacts", {"name": "Acme AS"})
...         order = await peer.create("orders", {"contact": acme, "total": "120.00"})
...         return peer.get("orders", order)["number"]      # 'P-laptop-1-1'

Every write is validated, checked against the permission matrix and stored
durably before the call returns; bad input raises an error from the
:mod:`roamsync.schema.errors` tree and writes nothing.

``Peer`` is a facade: lifecycle, writes and reads are here, what sync sessions
use in :class:`~.syncing.Syncing`; the work is done by
:class:`~.records.Records` (documents, views, the one commit path),
:class:`~.merge.Merger` (the merge pipeline), :class:`~.feed.ChangeFeed` (the
change feed and checkpoints), :class:`~.conflicts.ConflictLog` (conflicts and
policies), :class:`~.numbering.Numbering`, :class:`~.cache.DocCache` and the
worker (:class:`~.preparer.Preparer`). ``Peer`` implements the
:class:`~roamsync.transport.replica.Replica` protocol a sync session needs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NewType

from roamsync.peer.core.clock import HybridClock, system_wall
from roamsync.peer.core.priority import DELETED, Write
from roamsync.peer.record import RecordDoc, Signer
from roamsync.peer.replica.bulk import new_record
from roamsync.peer.replica.cache import DocCache
from roamsync.peer.replica.conflicts import Conflict, ConflictLog
from roamsync.peer.replica.feed import ChangeFeed
from roamsync.peer.replica.lines import PARENTS, with_totals
from roamsync.peer.replica.merge import Merger
from roamsync.peer.replica.numbering import Numbering
from roamsync.peer.replica.preparer import Preparer
from roamsync.peer.replica.records import Records, RecordView, load_view, present
from roamsync.peer.replica.seals import SEAL_MIN, Seals
from roamsync.peer.replica.syncing import Syncing
from roamsync.peer.store import STORE_FILE, Meta, Rejection, SqliteStore, Store
from roamsync.peer.store.files import make_private
from roamsync.schema import (
    ROLES,
    PeerClosedError,
    RecordNotFoundError,
    UsageError,
    check,
    get_module,
    validate_fields,
)

RecordId = NewType("RecordId", str)
DeviceId = NewType("DeviceId", str)
WORDS = re.compile(r"\w+")  # the words of a search
INDEX_SLICE = 250  # records indexed between two turns of the event loop (Peer.indexed): ~6 ms
RecordViews = list[RecordView]  # aliases, since Peer.list shadows the builtin in the class

log = logging.getLogger(__name__)


class Peer(Syncing):
    """One device's full replica of the company database."""

    def __init__(
        self,
        store: Store,
        device: str,
        role: str,
        *,
        clock: Callable[[], float] | None = None,
        cache_size: int = 2048,
        policy: str = "central",
        label: str | None = None,
        workers: int | None = None,
        signer: Signer | None = None,
    ) -> None:
        if role not in ROLES:
            raise UsageError(f"role must be one of {ROLES}, not {role!r}")
        self.store = store
        self.meta = Meta(store)
        self.device = DeviceId(device)
        self.role = role
        self._closed = False
        self.read_at = float("-inf")  # time.monotonic() of the last page or search (indexed)
        self.client_id = self.meta.claim(self.device, self.role)
        self.clock = HybridClock(self.meta.hlc(), system_wall() if clock is None else clock)
        self.changefeed = ChangeFeed(store, self.meta)
        self.cache = DocCache(store, self.client_id, cache_size)
        self.seals = Seals()  # main: what it signed or verified, to seal (seals.py)
        if signer is not None and role == "main":
            signer = self.seals.signing(signer)
        self.records = Records(
            store, self.cache, self.changefeed, self.clock, device=device, role=role, signer=signer
        )
        self.numbering = Numbering(self.records, self.meta, label or device)
        self.conflict_log = ConflictLog(self.records, policy)
        self.merger = Merger(self.records, self.numbering, Preparer(workers))

    @classmethod
    async def open(
        cls,
        path: str | Path,
        device: str = "device",
        role: str = "office",
        **options: Any,
    ) -> Peer:
        """Create or reopen the replica stored in directory ``path``."""
        folder = Path(path)
        widened = make_private(folder)
        if widened:
            names = ", ".join(str(p.relative_to(folder)) for p in widened)
            log.warning("%s: made private what was readable by other users: %s", folder, names)
        peer = cls(SqliteStore(folder / STORE_FILE), device, role, **options)
        if peer.store.needs_index:  # a store made before search or listing: index it once
            peer.store.rebuild_index(peer.records.index_entries())
        if peer.role == "main":
            peer.numbering.assign()  # finish numbering a crash may have interrupted
        return peer

    @property
    def label(self) -> str:
        """This device's name in provisional numbers: P-<label>-<n>."""
        return self.numbering.label

    @property
    def policy(self) -> str:
        """How this device's conflicts are settled (the last policy applied)."""
        return self.conflict_log.policy

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if not self._closed:
            try:
                await self.seal(SEAL_MIN)
            except Exception as exc:  # a store that failed: closing must still close it
                log.warning("could not seal what %s signed: %s", self.device, exc)
            self.changefeed.flush()
            self._closed = True
            self.merger.preparer.close()
            self.cache.clear()
            self.store.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise PeerClosedError(f"peer {self.device!r} is closed")

    # -- writes -------------------------------------------------------------

    async def create(
        self, module: str, fields: Mapping[str, object], *, record_id: str | None = None
    ) -> RecordId:
        """Create a record and return its id (a new random one unless ``record_id``)."""
        self._check_open()
        check(self.role, module, "create", own=True)
        entries: dict[str, str] = {}
        record_id, rec = new_record(self, module, fields, record_id, entries)
        self.records.commit([(record_id, rec)], entries)
        return RecordId(record_id)

    async def update(self, module: str, record_id: str, fields: Mapping[str, object]) -> None:
        """Change some fields of a record; ``None`` clears a field."""
        self._check_open()
        mod = get_module(module)
        rec = self.records.live(module, record_id)
        check(self.role, module, "edit", own=rec.creator == self.device)
        values = validate_fields(module, fields, creating=False)
        self.records.check_references(mod, values)
        self.records.write(record_id, rec, mod, self.clock.now(), values)
        self.records.commit([(record_id, rec)])

    async def delete(self, module: str, record_id: str) -> None:
        """Delete a record. Edits made concurrently elsewhere lose to the delete (logged)."""
        self._check_open()
        get_module(module)
        rec = self.records.live(module, record_id)
        self._mark_deleted(module, record_id, rec, deleted=True)

    async def restore(self, module: str, record_id: str) -> None:
        """Undo a delete, bringing back the record with every edit it had."""
        self._check_open()
        get_module(module)
        rec = self.records.doc(record_id)
        if rec is None or rec.module != module:
            raise RecordNotFoundError(module, record_id)
        view = self.records.view(record_id)
        if view is not None and not view["deleted"]:
            return  # live already: nothing to write
        self._mark_deleted(module, record_id, rec, deleted=False)

    def _mark_deleted(self, module: str, record_id: str, rec: RecordDoc, *, deleted: bool) -> None:
        mod = get_module(module)
        check(self.role, module, "delete", own=rec.creator == self.device)
        self.records.write(record_id, rec, mod, self.clock.now(), {DELETED: deleted})
        self.records.commit([(record_id, rec)])

    # -- reads --------------------------------------------------------------

    def get(self, module: str, record_id: str) -> dict[str, Any]:
        """The resolved fields of a record, plus ``id``."""
        self._check_open()
        mod = get_module(module)
        record = [present(mod, self.records.live_view(module, record_id))]
        return self._own_totals(module, record)[0]

    def lines(self, module: str, record_id: str) -> RecordViews:
        """The live lines of a quote or order (``module``: quotes or orders), read
        through the listing: only its own, however many the module has."""
        self._check_open()
        lines_module = PARENTS[module][0]
        self.records.index_pending()  # lines a merge queued are listed first
        views = self.store.listed(lines_module, [record_id])
        return [present(get_module(lines_module), load_view(raw)) for raw in views]

    def writes(self, module: str, record_id: str) -> list[Write]:
        """Every device's latest write of each field of a record, deleted or not (who,
        when: a delete is a write of ``_deleted``)."""
        self._check_open()
        get_module(module)
        rec = self.records.doc(record_id)
        if rec is None or rec.module != module:
            raise RecordNotFoundError(module, record_id)
        return list(rec.writes())

    def list(self, module: str) -> RecordViews:
        """All live records of a module, ordered by id."""
        self._check_open()
        mod = get_module(module)
        return self._totals(
            module, [present(mod, load_view(raw)) for raw in self.store.views(module)]
        )

    def _totals(self, module: str, records: RecordViews) -> RecordViews:
        """Quotes and orders with their total the sum of their lines (replica.lines)."""
        if module not in PARENTS:
            return records
        lines_module = PARENTS[module][0]
        lines = [load_view(raw)["fields"] for raw in self.store.views(lines_module)]
        return with_totals(module, records, lines)

    def find(self, module: str, number: str) -> RecordViews:
        """Quotes or orders whose final or provisional number is ``number``."""
        self._check_open()
        mod = get_module(module)
        if not mod.numbered:
            raise UsageError(f"{module} records have no numbers (quotes and orders do)")
        return [present(mod, load_view(raw)) for raw in self.store.find_number(module, number)]

    async def indexed(self) -> None:
        """Index what merges queued for search and the listing, :data:`INDEX_SLICE`
        records at a time, the event loop running between slices. A page or search after
        a large merge (a frame of an initial sync queues about a thousand records, 25 µs
        each) so waits its turn instead of holding the loop; :meth:`search`,
        :meth:`page` and :meth:`lines` then index only what came meanwhile."""
        self.read_at = time.monotonic()
        await self.index_queued()

    async def index_queued(self) -> None:
        """:meth:`indexed`, for the sync: after a merge while pages are read (a page or
        search in the last :data:`~.syncing.READERS` seconds), so that the next page seldom finds
        a backlog to wait for; with nobody reading, merges leave it for later (it would
        slow an initial sync by a tenth)."""
        self._check_open()
        while self.records.index_pending(INDEX_SLICE) >= INDEX_SLICE:
            await asyncio.sleep(0)
            self._check_open()

    def search(self, module: str, text: str, limit: int = 50, offset: int = 0) -> RecordViews:
        """Live records of ``module`` whose text fields hold every word of ``text`` (as
        the start of a word, ignoring case and accents), best matches first (``limit``
        of them, from ``offset``)."""
        self._check_open()
        mod = get_module(module)
        words = WORDS.findall(text)
        self.records.index_pending()  # what merges queued: search is in step with every write
        found = self.store.search(module, words, limit, offset)
        return [present(mod, load_view(raw)) for raw in found]

    def page(
        self, module: str, offset: int, limit: int, *, order: str = "key", descending: bool = False
    ) -> tuple[RecordViews, int]:
        """``limit`` live records of ``module`` from ``offset`` in list order, and how many
        live records it has. ``order``: ``"key"`` (by number for quotes and orders, else
        by name or title: :mod:`.listing`), or ``"changed"`` (as last changed here)."""
        self._check_open()
        mod = get_module(module)
        self.records.index_pending()  # what merges queued: a page is in step with every write
        views = self.store.page(module, offset, limit, order, descending)
        records = [present(mod, load_view(raw)) for raw in views]
        return self._own_totals(module, records), self.store.count_listed(module)

    def _own_totals(self, module: str, records: RecordViews) -> RecordViews:
        """Quotes or orders with their totals, from their own lines only (the listing
        groups lines by parent)."""
        if module not in PARENTS or not records:
            return records
        self.records.index_pending()
        lines = self.store.listed(PARENTS[module][0], [r["id"] for r in records])
        return with_totals(module, records, [load_view(raw)["fields"] for raw in lines])

    def module_of(self, record_id: str) -> str:
        """The module a record belongs to; RecordNotFoundError if there is no such record."""
        self._check_open()
        view = self.records.view(record_id)
        if view is None:
            raise RecordNotFoundError("", record_id)
        return str(view["module"])

    def count(self, module: str) -> int:
        self._check_open()
        get_module(module)
        return self.store.count(module)

    # -- conflicts and rejections ------------------------------------------------

    def conflicts(self) -> Sequence[Conflict]:
        """The conflict log: open conflicts and those closed in the last seven days."""
        self._check_open()
        return self.conflict_log.conflicts()

    def rejections(self) -> Sequence[Rejection]:
        """Writes from other devices that broke the permission matrix and were ignored."""
        self._check_open()
        return self.store.rejections()

    async def resolve(
        self,
        module: str,
        record_id: str,
        field: str,
        *,
        pick: int | None = None,
        value: object = None,
    ) -> None:
        """Settle an open conflict by hand: keep competing value number ``pick``
        (0-based, in the order :meth:`conflicts` lists them) or write ``value``."""
        self._check_open()
        self.conflict_log.resolve(module, record_id, field, pick=pick, value=value)

    async def apply_policy(self, policy: str) -> int:
        """Settle this device's open conflicts by ``policy``; returns how many.

        ``central`` keeps main's (or the default winner's) value, ``local`` this
        device's, ``latest`` the last written; ``manual`` leaves them pending for
        :meth:`resolve`.
        """
        self._check_open()
        return self.conflict_log.apply_policy(policy)
