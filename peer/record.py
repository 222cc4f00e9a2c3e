"""One record as one pycrdt document, laid out so no concurrent write is lost.

Layout of a record's document (all root types, which Yjs merges by name):

* ``meta`` (Map): ``module``, ``creator``, ``creator_role``, ``created_t``,
  written once by the creating device, and ``a:<client id>`` -> the device and
  role behind a Yjs client id, written with that client's first change.
* ``slots`` (Map): key ``<device>`` -> JSON of that device's latest
  :class:`~roamsync.peer.priority.Write` of every field it wrote. Each key has
  a single writer, so Yjs never has to drop one of two concurrent values
  (which it would for two devices setting one key, or creating one nested
  map); and since a device always overwrites the same key, Yjs squashes the
  overwritten versions into one deleted range, so repeated edits do not grow
  the document.
* ``note:<field>`` (Text): rich note text, merged character by character.
  A device edits notes under a second Yjs client id (its *notes lane*), so
  its note items never sit between two of its slot versions in the clock
  order, which would stop Yjs from squashing them.

The priority layer (:mod:`roamsync.peer.priority`) turns the slots into the
resolved view.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from pycrdt import Doc, Map, Text

from roamsync.peer.priority import (
    RETENTION,
    Episode,
    Version,
    Write,
    close_episode,
    heads,
    is_allowed,
    open_episode,
)
from roamsync.schema import FieldType, JsonValue, get_module

SEP = "\x1f"


def encode_slot(role: str, writes: Mapping[str, Write]) -> str:
    """A device's slot: its role and its latest write of each field."""
    fields: dict[str, list[Any]] = {}
    for name, w in writes.items():
        closed = [encode_episode(e) for e in w.closed]
        fields[name] = [w.value, w.t, dict(w.seen), w.policy, closed]
    return orjson.dumps({"r": role, "f": fields}).decode()


def decode_slot(device: str, raw: str) -> list[Write]:
    body = orjson.loads(raw)
    role = body["r"]
    return [
        Write(
            field=name,
            device=device,
            role=role,
            t=t,
            value=value,
            seen=seen,
            policy=policy,
            closed=tuple(decode_episode(e) for e in closed),
        )
        for name, (value, t, seen, policy, closed) in body["f"].items()
    ]


def _encode_version(v: Version) -> list[Any]:
    return [v.device, v.role, v.t, v.value]


def encode_episode(e: Episode) -> dict[str, Any]:
    return {
        "f": e.field,
        "vs": [_encode_version(v) for v in e.versions],
        "w": _encode_version(e.winner),
        "p": e.policy,
        "t": e.time,
        "by": e.resolved_by,
        "open": e.open,
    }


def decode_episode(body: Mapping[str, Any]) -> Episode:
    return Episode(
        field=body["f"],
        versions=tuple(Version(*v) for v in body["vs"]),
        winner=Version(*body["w"]),
        policy=body["p"],
        time=body["t"],
        resolved_by=body.get("by"),
        open=body.get("open", False),
    )


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """Decode a Yjs state vector: varuint count, then (client, clock) varuint pairs."""
    values = list(_read_varuints(sv))
    count = values[0] if values else 0
    if len(values) != 1 + 2 * count:
        raise ValueError("malformed state vector")
    return {values[1 + 2 * i]: values[2 + 2 * i] for i in range(count)}


def _read_varuints(data: bytes) -> Iterator[int]:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            yield value
            value = shift = 0
    if shift:
        raise ValueError("truncated varuint")


class RecordDoc:
    """A record's CRDT document with typed accessors; no I/O."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.doc = doc
        self.slots: Map[str] = doc.get("slots", type=Map)
        self.meta: Map[Any] = doc.get("meta", type=Map)
        # Reading a pycrdt Map key by key opens a transaction per key: read it whole,
        # once, and keep it until the document changes. Every change goes through this
        # class (apply, init, claim_client, put, set_note), which drops the caches; do
        # not change ``doc`` behind its back.
        self._meta_cache: dict[str, Any] | None = None
        self._writes_cache: list[Write] | None = None

    def _changed(self) -> None:
        self._meta_cache = None
        self._writes_cache = None

    def _meta(self) -> dict[str, Any]:
        if self._meta_cache is None:
            self._meta_cache = orjson.loads(str(self.meta))
        return self._meta_cache

    def apply(self, update: bytes) -> bool:
        """Merge a Yjs update; whether it changed anything. ValueError if undecodable."""
        # Observe only for the length of the call: pycrdt keeps a document that still
        # has an observer alive forever (measured: about 7 KB per document).
        changes: list[bytes] = []
        subscription = self.doc.observe(lambda event: changes.append(event.update))
        try:
            self.doc.apply_update(update)
        finally:
            self.doc.unobserve(subscription)
            self._changed()
        return bool(changes)

    @classmethod
    def load(cls, client_id: int, state: bytes | None = None) -> RecordDoc:
        """A record document writing as Yjs client ``client_id``; notes use ``client_id + 1``."""
        if client_id % 2:
            raise ValueError("client ids are even: client_id + 1 is the device's notes lane")
        doc: Doc[Any] = Doc(client_id=client_id)
        if state:
            doc.apply_update(state)
        return cls(doc)

    @property
    def notes_client_id(self) -> int:
        return int(self.doc.client_id) + 1

    # -- metadata ---------------------------------------------------------

    @property
    def module(self) -> str | None:
        module = self._meta().get("module")
        return None if module is None else str(module)

    @property
    def creator(self) -> str:
        return str(self._meta().get("creator", ""))

    @property
    def creator_role(self) -> str:
        return str(self._meta().get("creator_role", ""))

    @property
    def created_t(self) -> int:
        return int(self._meta().get("created_t", 0))

    def author(self, client_id: int) -> tuple[str, str] | None:
        """The (device, role) that claimed a Yjs client id in this record."""
        raw = self._meta().get(f"a:{client_id}")
        if not isinstance(raw, str):
            return None
        device, _, role = raw.partition(SEP)
        return device, role

    def state_vector(self) -> dict[int, int]:
        return decode_state_vector(self.doc.get_state())

    def encode(self) -> bytes:
        return self.doc.get_update()

    # -- reading ----------------------------------------------------------

    def writes(self) -> list[Write]:
        if self._writes_cache is None:
            slots: dict[str, str] = orjson.loads(str(self.slots))
            self._writes_cache = [w for d, raw in slots.items() for w in decode_slot(d, raw)]
        return self._writes_cache

    def notes(self) -> dict[str, str]:
        module = get_module(str(self.module))
        names = [name for name, f in module.fields.items() if f.type is FieldType.NOTE]
        if not names:
            return {}
        with self.doc.transaction():
            return {name: str(self.doc.get(f"note:{name}", type=Text)) for name in names}

    def vector(self, writes: list[Write] | None = None) -> dict[str, int]:
        """Device -> time of its latest write in this record (the version vector)."""
        out: dict[str, int] = {}
        for w in writes if writes is not None else self.writes():
            out[w.device] = max(out.get(w.device, -1), w.t)
        return out

    # -- writing ----------------------------------------------------------

    def init(self, module: str, creator: str, role: str, t: int) -> None:
        self._changed()
        self.meta["module"] = module
        self.meta["creator"] = creator
        self.meta["creator_role"] = role
        self.meta["created_t"] = t

    def claim_client(self, device: str, role: str) -> None:
        """Say which device writes as this document's client ids (once per record)."""
        self._changed()
        for client in (self.doc.client_id, self.notes_client_id):
            if f"a:{client}" not in self.meta:
                self.meta[f"a:{client}"] = f"{device}{SEP}{role}"

    def put(
        self,
        device: str,
        role: str,
        t: int,
        values: Mapping[str, JsonValue],
        *,
        policy: str | None = None,
        chosen: Mapping[str, Write] | None = None,
    ) -> None:
        """Write ``values`` as ``device`` at time ``t`` (call inside a transaction).

        A write that had seen a conflict on its field closes it and records the
        episode; ``policy`` and ``chosen`` say how, for a resolving write.
        """
        writes = self.writes()
        self._changed()
        seen = {d: v for d, v in self.vector(writes).items() if d != device}
        module = str(self.module)
        mine = {w.field: w for w in writes if w.device == device}
        for name, value in values.items():
            field_writes = [w for w in writes if w.field == name]
            new = Write(name, device, role, t, value, seen, policy)
            allowed_heads = heads(w for w in field_writes if is_allowed(module, self.creator, w))
            own = mine.get(name)
            closed = [e for e in (own.closed if own else ()) if e.time >= t - RETENTION]
            episode = open_episode(name, allowed_heads)
            if episode is not None:
                closed.append(close_episode(episode, new, (chosen or {}).get(name)))
            mine[name] = Write(name, device, role, t, value, seen, policy, tuple(closed))
        self.slots[device] = encode_slot(role, mine)

    def set_note(self, field: str, new: str) -> None:
        """Replace a note's text by editing only the changed middle, so edits merge.

        Call outside a transaction: the edit is made in the notes lane (a
        scratch document with the notes client id) and merged in.
        """
        self._changed()
        lane: Doc[Any] = Doc(client_id=self.notes_client_id)
        lane.apply_update(self.doc.get_update())
        _edit_text(lane.get(f"note:{field}", type=Text), new)
        self.doc.apply_update(lane.get_update(self.doc.get_state()))


def _edit_text(text: Text, new: str) -> None:
    old = str(text)
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[-1 - end] == new[-1 - end]:
        end += 1
    # pycrdt indexes text by UTF-8 byte offset, not by Python character.
    lo = len(old[:start].encode())
    hi = len(old[: len(old) - end].encode())
    if hi > lo:
        del text[lo:hi]
    middle = new[start : len(new) - end]
    if middle:
        text.insert(lo, middle)
