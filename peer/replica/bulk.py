"""Many records at once (``roamsync import``): the checks of ``Peer.create`` for each,
one durable commit per batch instead of one per record."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from roamsync.schema import UsageError, check, get_module, validate_fields

if TYPE_CHECKING:
    from roamsync.peer.record import RecordDoc
    from roamsync.peer.replica.peer import Peer

BATCH = 1000  # records per durable commit


async def create_many(
    peer: Peer,
    module: str,
    rows: Sequence[tuple[str | None, Mapping[str, object]]],
    *,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Create a record for each ``(id or None, fields)``, in order; their ids. Each is
    checked as ``Peer.create`` checks it; the first bad one raises, and the batches
    before it stay written (callers check everything first). ``progress(n)``: ``n``
    more records are stored. Between batches the event loop runs (sessions go on)."""
    check(peer.role, module, "create", own=True)
    ids: list[str] = []
    for start in range(0, len(rows), batch):
        docs = []
        entries: dict[str, str] = {}
        for given, fields in rows[start : start + batch]:
            record_id, rec = new_record(peer, module, fields, given, entries)
            docs.append((record_id, rec))
            ids.append(record_id)
        peer.records.commit(docs, entries)
        if progress is not None:
            progress(len(docs))
        await asyncio.sleep(0)
    return ids


def new_record(
    peer: Peer,
    module: str,
    fields: Mapping[str, object],
    record_id: str | None,
    entries: dict[str, str],
) -> tuple[str, RecordDoc]:
    """A new record's document, written as ``peer`` and not stored yet (``Peer.create``
    and :func:`create_many` store it): its fields checked, its id (given, or a new random
    one), its number for quotes and orders (the counter goes into ``entries``)."""
    mod = get_module(module)
    values = validate_fields(module, fields, creating=True)
    peer.records.check_references(mod, values)
    if record_id is None:
        record_id = secrets.token_hex(10)
    elif not (0 < len(record_id) <= 64 and record_id.isascii()):
        raise UsageError(f"record id {record_id!r} is not 1-64 ASCII characters")
    elif peer.store.state(record_id) is not None:
        raise UsageError(f"record {record_id!r} exists already")
    rec = peer.cache.load()
    t = peer.clock.now()
    if mod.numbered:
        values["number"] = peer.numbering.next_number(module, entries)
    with rec.doc.transaction():
        rec.init(module, peer.device, peer.role, t)
    peer.records.write(record_id, rec, mod, t, values)
    return record_id, rec
