"""Records that arrive new: read, checked and made into store rows without the replica.

An initial sync brings every record of the company, each new to the device.
For such a record the whole work (check the Yjs update's structure, read it,
check its data, the permission matrix and the priority layer, build its
view) depends on nothing but the update: :func:`arrive` is a pure function of
the record id, the update and the peer it came from, and
:class:`~roamsync.peer.replica.preparer.Preparer`
runs it for large batches in a worker process, beside the event loop, which
meanwhile stores the batch before and receives the next. The replica uses an
arrival only if the record is still new when it applies the batch
(``Peer.apply_remote``); it logs and records what :func:`arrive` refused.

On two cores this about halves an initial sync: the receiving process had
been the bottleneck while the sending one idled (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from roamsync.peer.record import RecordSnapshot, verify_state
from roamsync.peer.record.signing import KeySet
from roamsync.peer.replica.rows import Ignored, ignored, oversized, view_row, violation
from roamsync.peer.store import RecordRow

READY, UNCHANGED, MALFORMED, REJECTED = "ready", "unchanged", "malformed", "rejected"


Plain = tuple[Any, ...]  # an Arrival as plain tuples (Preparer)


class Arrival(NamedTuple):
    """What a new record's update makes: a row to store, or why not."""

    outcome: str  # READY, UNCHANGED, MALFORMED or REJECTED
    row: RecordRow | None = None
    latest: int = 0  # the time of its latest winning write (the clock observes it)
    module: str = ""
    reason: str = ""  # why it is malformed or rejected
    ignored: tuple[Ignored, ...] = ()
    verified: bool = False  # its signed writes were checked and hold (signing.py)


def arrive(
    record_id: str, update: bytes, origin: str | None, keys: KeySet | None = None
) -> Arrival:
    """Read ``update`` as a record this replica has never had (``origin``: the peer it
    came from, which need not get it back). With ``keys`` (in the worker), its signed
    writes are checked too: ``verified`` if they hold; if not, the replica checks again
    with the registry it has then (it may have learnt the device in the same batch)."""
    try:
        snapshot = RecordSnapshot(update)  # refuses updates that could crash yrs, unseen
        if not snapshot.changed:
            return Arrival(UNCHANGED)
        snapshot.check()  # a well-formed Yjs update can still carry malformed record data
    except ValueError as exc:
        return Arrival(MALFORMED, reason=str(exc))
    reason = violation(snapshot, {}, None) or oversized(snapshot, len(update))
    if reason is not None:
        return Arrival(REJECTED, module=str(snapshot.module), reason=reason)
    row, resolved = view_row(record_id, snapshot, update, origin)
    read = (snapshot.fresh, snapshot.ids)  # verify_state need not read the update again
    verified = keys is not None and verify_state(record_id, update, keys, None, read) is None
    return Arrival(READY, row, resolved.latest, row.module, "", ignored(resolved), verified)


def arrive_all(
    items: Sequence[tuple[str, bytes]], origin: str | None, keys: KeySet | None = None
) -> list[Arrival]:
    """:func:`arrive` for each item; with ``keys``, the signed writes of every
    ``keys.share``-th item only (from the first): the replica checks the others, so the
    two processes share the work."""
    every = max(keys.share, 1) if keys is not None else 1
    return [
        arrive(record_id, update, origin, keys if i % every == 0 else None)
        for i, (record_id, update) in enumerate(items)
    ]


def arrive_all_plain(
    items: Sequence[tuple[str, bytes]], origin: str | None, keys: KeySet | None = None
) -> list[Plain]:
    """:func:`arrive_all` in plain tuples (what a worker process runs and sends back):
    pickle takes a named tuple at several times the cost of a plain one."""
    return [
        (
            a.outcome,
            a.row and tuple(a.row),
            a.latest,
            a.module,
            a.reason,
            a.ignored and tuple(map(tuple, a.ignored)),
            a.verified,
        )
        for a in arrive_all(items, origin, keys)
    ]


def from_plain(plain: Plain) -> Arrival:
    outcome, row, latest, module, reason, ignored, verified = plain
    return Arrival(
        outcome,
        row and RecordRow._make(row),
        latest,
        module,
        reason,
        ignored and tuple(Ignored._make(w) for w in ignored),
        verified,
    )
