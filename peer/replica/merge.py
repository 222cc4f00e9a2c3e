"""The merge pipeline: record updates from another replica, checked, merged and stored.

For each update of a batch:

* a record new here is read as an :class:`~roamsync.peer.replica.arrival.Arrival`
  (by the worker process for large batches, else here); of a large batch, the worker
  checks the signed writes of every :data:`SHARE`-th record and the replica the others
  first, in slices between which the event loop runs (:meth:`Merger.check_ahead`);
* a record held here is merged into its document, its structure and data
  checked (:meth:`~roamsync.peer.record.RecordContent.check`), and the merged
  changes checked against the permission matrix
  (:func:`~roamsync.peer.replica.rows.violation`).

What is malformed is logged and dropped; what breaks the matrix is logged,
recorded as a rejection and dropped; the same on every replica. A record with
a write dated more than a day ahead of this device's clock is refused the same
way (:func:`dated_ahead`): it comes again with its next change. The rest is
stored in one commit, and main then numbers the provisional quotes and orders
that arrived.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from roamsync.peer.core.clock import AHEAD, to_millis
from roamsync.peer.record import Keys, RecordContent, RecordDoc, verify_state
from roamsync.peer.replica.arrival import (
    MALFORMED,
    READY,
    REJECTED,
    UNCHANGED,
    Arrival,
    Plain,
    arrive,
)
from roamsync.peer.replica.numbering import Numbering
from roamsync.peer.replica.preparer import Preparer
from roamsync.peer.replica.records import Records, load_view
from roamsync.peer.replica.rows import oversized, violation
from roamsync.schema.modules import LINES

log = logging.getLogger(__name__)

SHARE = 2  # the worker checks the signed writes of one record in SHARE of a batch
SLICE = 0.01  # seconds of signature checks between two turns of the event loop (check_ahead)
FIRST_PREFIXES = ("device-", "seal-")  # registry entries (org.registry.entry_id), seals
Prepared = asyncio.Future[list[Plain]]  # arrivals a worker is reading (Merger.prepare)


@dataclass(frozen=True)
class ApplyResult:
    """What merging a batch of remote updates did."""

    changed: int = 0
    rejected: int = 0
    malformed: int = 0


class Merger:
    def __init__(self, records: Records, numbering: Numbering, preparer: Preparer) -> None:
        self.records = records
        self.numbering = numbering
        self.preparer = preparer
        # Refuse records dated more than a day ahead; repair turns it off for the records
        # it salvages from the device's own store, which it took before.
        self.refuse_future = True
        self.keys: Keys | None = None  # verify signed writes (Peer.verify_with)
        self.last_merge = 0.0  # time.monotonic() of the last batch merged

    def _forged(
        self, record_id: str, state: bytes, source: str, known: Mapping[int, int] | None = None
    ) -> str | None:
        """Why a record state from ``source`` does not verify, or ``None``; states from
        main are main's to vouch for (it verified what it took, and signed what it wrote).
        ``known``: the state vector of what this replica holds of the record."""
        keys = self.keys
        if keys is None or keys.role(source) == "main":
            return None
        return verify_state(record_id, state, keys, known)

    def _line_problem(self, arrival: Arrival) -> str | None:
        """A new line a travel device made on a quote or order it did not create (known
        here; one whose parent has not come yet is taken, see README)."""
        keys, row = self.keys, arrival.row
        if arrival.module not in LINES or keys is None or row is None:
            return None
        view = load_view(row.view)
        creator = str(view.get("creator"))
        field, parent_module = LINES[arrival.module]
        parent = view["fields"].get(field)
        if keys.role(creator) != "travel" or not isinstance(parent, str):
            return None
        owner = self.records.creator_of(parent)
        if owner is not None and owner != creator:
            return f"a travel device adds lines only to {parent_module} it created itself"
        return None

    def _ahead(self, latest: int) -> str | None:
        if not self.refuse_future:
            return None
        return dated_ahead(latest, self.records.clock.ceiling())

    def prepare(self, items: Sequence[tuple[str, bytes]], source: str = "") -> Prepared | None:
        """Start reading a large batch in the worker process (``None`` if the batch is
        small or there is no worker)."""
        keys = self.keys
        vouched = keys is None or keys.role(source) == "main"
        snapshot = getattr(keys, "snapshot", None)
        if not self.preparer.takes(len(items)):
            return None
        # The worker checks every second record, the replica the others: both cores.
        return self.preparer.submit(
            items, source or None, None if vouched or snapshot is None else snapshot(SHARE)
        )

    def expect(self, count: int) -> None:
        """A peer says ``count`` records are coming: make ready to read them."""
        self.preparer.warm(count)

    def brings_keys(self, items: Sequence[tuple[str, bytes]]) -> bool:
        """Whether a batch holds registry entries or seals, which :meth:`merge` stores
        first: records of the same batch may need them to verify."""
        return self.keys is not None and any(rid.startswith(FIRST_PREFIXES) for rid, _ in items)

    async def check_ahead(
        self, items: Sequence[tuple[str, bytes]], source: str, arrivals: list[Arrival] | None
    ) -> list[Arrival] | None:
        """``arrivals`` with the signed writes the worker left to this replica checked
        (every :data:`SHARE`-th record), a slice of :data:`SLICE` seconds at a time.

        Between two slices the event loop serves pages and other sessions: checked in
        :meth:`merge`, a frame of an initial sync held it 0.1 to 0.4 s. Only what
        verifies is marked (``verified``); what does not is checked again in
        :meth:`merge`, with the registry it has then. A batch that brings registry
        entries or seals is left to :meth:`merge`, which learns them first."""
        keys = self.keys
        if arrivals is None or keys is None or keys.role(source) == "main":
            return arrivals
        if self.brings_keys(items):
            return arrivals
        cache = self.records.cache
        todo = [
            i
            for i, a in enumerate(arrivals)
            if a.outcome == READY and not a.verified and items[i][0] not in cache
        ]
        held = self.records.store.states(items[i][0] for i in todo)  # merged, not arrived
        checked = list(arrivals)
        deadline = time.monotonic() + SLICE
        for i in todo:
            record_id, arrival = items[i][0], arrivals[i]
            if record_id in held or arrival.row is None:
                continue
            if verify_state(record_id, arrival.row.state, keys) is None:
                checked[i] = arrival._replace(verified=True)
            if time.monotonic() > deadline:
                await asyncio.sleep(0)
                deadline = time.monotonic() + SLICE
        return checked

    def merge(
        self,
        items: Sequence[tuple[str, bytes]],
        source: str,
        arrivals: list[Arrival] | None,
    ) -> ApplyResult:
        """Merge and store a batch; ``arrivals``: what the worker read of these items.

        With signed writes checked, registry entries (``device-...``) and main's seals
        (``seal-...``) go first, in a commit of their own: a device enrolled in this
        batch is known for the records it wrote in the same batch, and what a seal in it
        lists needs no signature check."""
        self.last_merge = time.monotonic()
        keys = self.keys
        first = [i for i, (rid, _) in enumerate(items) if rid.startswith(FIRST_PREFIXES)]
        if keys is None or not first:
            return self._merge(items, source, arrivals)
        rest = [i for i in range(len(items)) if i not in set(first)]
        done = []
        for part in (first, rest):
            if part:
                part_arrivals = [arrivals[i] for i in part] if arrivals else None
                done.append(self._merge([items[i] for i in part], source, part_arrivals))
            refresh = getattr(keys, "refresh", None)
            if part is first and refresh is not None:
                refresh()  # learn the entries and seals just stored
        return ApplyResult(
            sum(r.changed for r in done),
            sum(r.rejected for r in done),
            sum(r.malformed for r in done),
        )

    def _merge(
        self,
        items: Sequence[tuple[str, bytes]],
        source: str,
        arrivals: list[Arrival] | None,
    ) -> ApplyResult:
        records = self.records
        changed: dict[str, RecordContent | Arrival] = {}
        arrived_new: set[str] = set()
        states: dict[str, bytes] = {}
        rejected = malformed = 0
        missing = {rid for rid, _ in items if rid not in records.cache}
        stored = records.store.states(missing)  # one query for the batch, not one per record
        for index, (record_id, update) in enumerate(items):
            existing = self._merge_base(record_id, states, stored, missing)
            outcome: RecordContent | Arrival | str
            if existing is None:  # new here: what the worker read, if it did
                arrival = arrivals[index] if arrivals else arrive(record_id, update, source or None)
                outcome = self._arrived(record_id, arrival, source)
            else:
                outcome = self._merge_one(record_id, update, source, existing)
            if isinstance(outcome, Arrival):
                changed[record_id] = outcome
                states[record_id] = update  # applied to nothing, the update is the state
                arrived_new.add(record_id)
            elif isinstance(outcome, RecordDoc):
                changed[record_id] = outcome
                state = states[record_id] = outcome.encode()
                if state == update:  # we hold exactly what the source sent: no echo
                    arrived_new.add(record_id)
                else:
                    arrived_new.discard(record_id)
            elif outcome == REJECTED:
                rejected += 1
            elif outcome == MALFORMED:
                malformed += 1
        origins = {record_id: source for record_id in arrived_new} if source else {}
        records.commit(changed.items(), report=True, origins=origins, states=states)
        if records.role == "main":
            self.numbering.assign()
        return ApplyResult(len(changed), rejected, malformed)

    def _merge_base(
        self,
        record_id: str,
        states: Mapping[str, bytes],
        stored: Mapping[str, bytes],
        missing: set[str],
    ) -> RecordDoc | None:
        """The document an item of a batch merges into: a copy of what an earlier item of
        the batch made (so that a bad item cannot spoil it), else the cached or stored one."""
        cache = self.records.cache
        if record_id in states:
            return cache.load(states[record_id])
        existing = cache.cached(record_id)
        if existing is not None:
            return existing
        # Not cached when the batch began (``stored`` has it), or evicted since by a bad item.
        store = self.records.store
        state = stored.get(record_id) if record_id in missing else store.state(record_id)
        return None if state is None else cache.load(state)

    def _arrived(self, record_id: str, arrival: Arrival, source: str) -> Arrival | str:
        """A record this replica has never had: the arrival if it is stored, else its outcome
        (logged, and recorded if rejected)."""
        if arrival.outcome == READY:
            assert arrival.row is not None
            forged = (
                None if arrival.verified else self._forged(record_id, arrival.row.state, source)
            )
            why = forged or self._ahead(arrival.latest) or self._line_problem(arrival)
            if why is not None:
                arrival = arrival._replace(outcome=REJECTED, reason=why)
        if arrival.outcome == MALFORMED:
            log.warning(
                "malformed update for record %s from %s: %s", record_id, source, arrival.reason
            )
        elif arrival.outcome == REJECTED:
            self.records.reject(record_id, arrival.module, source, arrival.reason)
        return arrival if arrival.outcome == READY else arrival.outcome

    def _merge_one(
        self, record_id: str, update: bytes, source: str, existing: RecordDoc
    ) -> RecordContent | str:
        before = existing.state_vector()
        identity = (existing.module, existing.creator)
        try:
            changed = existing.apply(update)
            if changed:
                existing.check()  # a well-formed Yjs update can still carry malformed data
        except ValueError as exc:  # an update or record that does not decode (record/)
            log.warning("malformed update for record %s from %s: %s", record_id, source, exc)
            self.records.cache.evict(record_id)
            return MALFORMED
        if not changed:
            return UNCHANGED
        # The merged state, not the update, is checked: a delete set alone changes what
        # was there, and names no author.
        reason = (
            self._forged(record_id, existing.encode(), source, before)
            or violation(existing, before, identity)
            or oversized(existing, len(existing.encode()))
            or self._ahead(existing.resolved().latest)
        )
        if reason is None:
            return existing
        self.records.cache.evict(record_id)  # the store still has the state before
        self.records.reject(record_id, str(existing.module), source, reason)
        return REJECTED


def dated_ahead(latest: int, ceiling: int) -> str | None:
    """Why a record whose newest write is dated ``latest`` must wait, or ``None``."""
    if latest <= ceiling:
        return None
    hours = to_millis(latest - ceiling + AHEAD) / 3_600_000
    return f"a write dated {hours:.1f} hours ahead of this device's clock (more than a day)"
