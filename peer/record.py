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
from pycrdt._pycrdt import Doc as _RawDoc  # the Rust binding under pycrdt.Doc (pinned)
from pycrdt._pycrdt import Transaction as _RawTransaction

from roamsync.peer.priority import (
    RETENTION,
    Episode,
    Resolved,
    Version,
    Write,
    close_episode,
    heads,
    is_allowed,
    open_episode,
    resolve,
    resolve_one_writer,
)
from roamsync.schema import JsonValue, get_module

SEP = "\x1f"
NOTE_PREFIX = "note:"


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


class RecordContent:
    """Read access to a record's content: metadata, writes, notes, Yjs state vector.

    Subclasses say where the content comes from (:meth:`_read_meta`,
    :meth:`_read_slots`, :meth:`notes`, :meth:`state_vector`); what is read is
    kept until :meth:`_changed` says the content changed.
    """

    _meta_cache: dict[str, Any] | None = None
    _slots_cache: dict[str, str] | None = None
    _writes_cache: list[Write] | None = None

    def _read_meta(self) -> dict[str, Any]:
        raise NotImplementedError

    def _read_slots(self) -> dict[str, str]:
        raise NotImplementedError

    def notes(self) -> dict[str, str]:
        """Every note field of the record's module -> its text ("" if never written)."""
        raise NotImplementedError

    def state_vector(self) -> dict[int, int]:
        raise NotImplementedError

    def _changed(self) -> None:
        self._meta_cache = None
        self._slots_cache = None
        self._writes_cache = None

    def _meta(self) -> dict[str, Any]:
        if self._meta_cache is None:
            self._meta_cache = self._read_meta()
        return self._meta_cache

    def _slots(self) -> dict[str, str]:
        if self._slots_cache is None:
            self._slots_cache = self._read_slots()
        return self._slots_cache

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

    def writes(self) -> list[Write]:
        if self._writes_cache is None:
            slots = self._slots()
            self._writes_cache = [w for d, raw in slots.items() for w in decode_slot(d, raw)]
        return self._writes_cache

    def resolve(self) -> Resolved:
        """The record's resolved view (:func:`~roamsync.peer.priority.resolve` of its writes)."""
        module, creator = str(self.module), self.creator
        slots = self._slots()
        if len(slots) == 1 and self._writes_cache is None:
            [(device, raw)] = slots.items()
            body = orjson.loads(raw)
            simple = {}
            for name, (value, t, _, _, closed) in body["f"].items():
                if closed:
                    break
                simple[name] = (value, t)
            else:
                quick = resolve_one_writer(module, creator, device, body["r"], simple)
                if quick is not None:
                    return quick
        return resolve(module, creator, self.writes())

    def vector(self, writes: list[Write] | None = None) -> dict[str, int]:
        """Device -> time of its latest write in this record (the version vector)."""
        out: dict[str, int] = {}
        for w in writes if writes is not None else self.writes():
            out[w.device] = max(out.get(w.device, -1), w.t)
        return out

    def _note_names(self) -> tuple[str, ...]:
        return get_module(str(self.module)).notes


class RecordSnapshot(RecordContent):
    """The content of an update applied to an empty document, read once.

    This is the bulk path for records that arrive new (an initial sync brings
    100k of them): it reads the update through the binding under
    :class:`pycrdt.Doc`, whose Python wrapper (locks, root-type objects, a
    transaction per read) costs several times what reading the content does.
    It holds no document: the update itself is the record's state.
    """

    def __init__(self, update: bytes) -> None:
        """ValueError if ``update`` is not a Yjs update."""
        doc = _RawDoc(None, None, None)
        txn = doc.create_transaction()
        try:
            doc.apply_update(txn, update)
            roots = doc.roots(txn)
            self._meta_read: dict[str, Any] = orjson.loads(_raw_map(doc, txn, roots, "meta"))
            self._slots_read: dict[str, str] = orjson.loads(_raw_map(doc, txn, roots, "slots"))
            self._state_vector = decode_state_vector(doc.get_state(txn))
            notes = [name for name in roots if name.startswith(NOTE_PREFIX)]
            self._notes = {
                name[len(NOTE_PREFIX) :]: doc.get_or_insert_text(txn, name).get_string(txn)
                for name in notes
            }
            txn.commit()
        finally:
            txn.drop()

    @property
    def changed(self) -> bool:
        """Whether the update changes an empty document (it holds some content)."""
        return bool(self._state_vector)

    def _read_meta(self) -> dict[str, Any]:
        return self._meta_read

    def _read_slots(self) -> dict[str, str]:
        return self._slots_read

    def notes(self) -> dict[str, str]:
        return {name: self._notes.get(name, "") for name in self._note_names()}

    def state_vector(self) -> dict[int, int]:
        return self._state_vector


def _raw_map(doc: _RawDoc, txn: _RawTransaction, roots: Mapping[str, Any], name: str) -> str:
    """A root map's JSON ("{}" if the update does not have it)."""
    if name not in roots:
        return "{}"
    return doc.get_or_insert_map(txn, name).to_json(txn)


class RecordDoc(RecordContent):
    """A record's CRDT document with typed accessors; no I/O."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.doc = doc
        self.slots: Map[str] = doc.get("slots", type=Map)
        self.meta: Map[Any] = doc.get("meta", type=Map)
        # Reading a pycrdt Map key by key opens a transaction per key: read it whole,
        # once, and keep it until the document changes. Every change goes through this
        # class (apply, init, claim_client, put, set_note), which drops the caches; do
        # not change ``doc`` behind its back.

    def _read_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = orjson.loads(str(self.meta))
        return meta

    def _read_slots(self) -> dict[str, str]:
        slots: dict[str, str] = orjson.loads(str(self.slots))
        return slots

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

    def state_vector(self) -> dict[int, int]:
        return decode_state_vector(self.doc.get_state())

    def encode(self) -> bytes:
        return self.doc.get_update()

    def notes(self) -> dict[str, str]:
        names = self._note_names()
        if not names:
            return {}
        with self.doc.transaction():
            return {name: str(self.doc.get(NOTE_PREFIX + name, type=Text)) for name in names}

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
        _edit_text(lane.get(NOTE_PREFIX + field, type=Text), new)
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
