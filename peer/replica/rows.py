"""From a record's content to what the replica stores, and what it must refuse.

Pure functions of a record's content: the same answer on every replica.

* :func:`violation`: why a merged update must be ignored (the permission matrix);
* :func:`oversized`: why a record is too large to take (the size limits);
* :func:`view_row`: the store row of a record, with the view the priority layer resolves;
* :func:`ignored`: the writes the priority layer left out because the matrix forbids them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import orjson

from roamsync.peer.core.numbering import is_provisional
from roamsync.peer.core.priority import Resolved
from roamsync.peer.record import RecordContent, encode_episode
from roamsync.peer.store import RecordRow
from roamsync.schema import MODULES, JsonValue, allowed, get_module
from roamsync.schema.fields import MAX_RECORD, MAX_TEXT, FieldType
from roamsync.schema.modules import Module
from roamsync.schema.permissions import may_write_record

TEXT_TYPES = frozenset({FieldType.STRING, FieldType.NOTE})  # what search reads


class Ignored(NamedTuple):
    """A write the priority layer ignored because the matrix forbids it."""

    t: int
    device: str
    field: str
    role: str


def ignored(resolved: Resolved) -> tuple[Ignored, ...]:
    if not resolved.rejected:  # most records: no generator to run
        return ()
    return tuple(Ignored(w.t, w.device, w.field, w.role) for w in resolved.rejected)


def violation(
    rec: RecordContent, before: Mapping[int, int], identity: tuple[str | None, str] | None
) -> str | None:
    """Why a merged update must be ignored, or ``None``: the same answer on every replica."""
    module, creator = rec.module, rec.creator
    if module not in MODULES:
        return f"unknown module {module!r}"
    if identity is not None and identity != (module, creator):
        return "the update rewrites the record's module or creator"
    if not allowed(rec.creator_role, module, "create", own=True):
        return f"a {rec.creator_role} device may not create {module} records"
    for client, clock in rec.state_vector().items():
        if clock <= before.get(client, 0):
            continue
        author = rec.author(client)
        if author is None:
            return f"changes by an unknown Yjs client {client}"
        device, role = author
        if not may_write_record(role, module, own=device == creator):
            return f"a {role} device ({device}) may not change {module} records it did not create"
    return None


def oversized(rec: RecordContent, size: int) -> str | None:
    """Why a record whose state is ``size`` bytes is over the limits, or ``None``: the
    record's whole state, each text value (written or not winning) and each note."""
    if size > MAX_RECORD:
        return f"the record is {size:,} bytes, over the limit of {MAX_RECORD >> 20} MiB"
    if size <= MAX_TEXT:
        return None  # no value in it can be larger than the whole: most records
    texts = [(w.field, w.value) for w in rec.writes() if isinstance(w.value, str)]
    texts += list(rec.notes().items())
    for name, text in texts:
        length = len(text.encode("utf-8", "surrogatepass"))
        if length > MAX_TEXT:
            return f"{name} holds {length:,} bytes of text, over the limit of {MAX_TEXT >> 10} KiB"
    return None


def view_row(
    record_id: str, rec: RecordContent, state: bytes, origin: str | None = None
) -> tuple[RecordRow, Resolved]:
    """The store row of a record: its state, and the view the priority layer resolves."""
    module = get_module(str(rec.module))
    resolved = rec.resolved()
    winning = resolved.values
    values: dict[str, JsonValue] = {name: winning.get(name) for name in module.fields}
    if module.notes:
        values.update(rec.notes())
    number = values.get("number") if module.numbered else None
    provisional = values.get("provisional_number")
    view = {
        "id": record_id,
        "module": module.name,
        "creator": rec.creator,
        "deleted": resolved.deleted,
        "fields": values,
        "rejected": [(w.device, w.field, w.t) for w in resolved.rejected]
        if resolved.rejected
        else [],
    }
    row = RecordRow(
        record_id,
        module.name,
        state,
        orjson.dumps(view),
        resolved.deleted,
        is_provisional(number) and not resolved.deleted,
        None if number is None else str(number),
        None if provisional is None else str(provisional),
        tuple((e.time, orjson.dumps(encode_episode(e))) for e in resolved.conflicts)
        if resolved.conflicts
        else (),
        origin,
    )
    return row, resolved


def search_text(module: Module, values: Mapping[str, object]) -> str:
    """What search finds a record by: the values of its text fields, a line each."""
    return "\n".join(
        str(values[name])
        for name, field in module.fields.items()
        if field.type in TEXT_TYPES and values.get(name)
    )
