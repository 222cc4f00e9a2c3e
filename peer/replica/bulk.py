"""Many records at once (``roamsync import``): the checks of ``Peer.create`` for each,
one durable commit per batch instead of one per record."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from roamsync.schema import UsageError, check, get_module, validate_fields

if TYPE_CHECKING:
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
    mod = get_module(module)
    check(peer.role, module, "create", own=True)
    ids: list[str] = []
    for start in range(0, len(rows), batch):
        docs = []
        entries: dict[str, str] = {}
        for given, fields in rows[start : start + batch]:
            values = validate_fields(module, fields, creating=True)
            peer.records.check_references(mod, values)
            record_id = given or secrets.token_hex(10)
            if given is not None and peer.store.state(given) is not None:
                raise UsageError(f"record {given!r} exists already")
            rec = peer.cache.load()
            t = peer.clock.now()
            if mod.numbered:
                values["number"] = peer.numbering.next_number(module, entries)
            with rec.doc.transaction():
                rec.init(module, peer.device, peer.role, t)
            peer.records.write(record_id, rec, mod, t, values)
            docs.append((record_id, rec))
            ids.append(record_id)
        peer.records.commit(docs, entries)
        if progress is not None:
            progress(len(docs))
        await asyncio.sleep(0)
    return ids
