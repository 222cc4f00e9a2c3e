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
from contextlib import contextmanager
from decimal import InvalidOperation
from typing import Any, TypeGuard

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
from roamsync.peer.yjs import check_update, read_fresh
from roamsync.schema import MODULES, Field, JsonValue, get_module
from roamsync.schema.fields import decode_value

SEP = "\x1f"
NOTE_PREFIX = "note:"
_PANIC = ("pyo3_runtime", "PanicException")  # how pyo3 reports a Rust panic


def encode_slot(role: str, writes: Mapping[str, Write]) -> str:
    """A device's slot: its role and its latest write of each field."""
    fields: dict[str, list[Any]] = {}
    for name, w in writes.items():
        closed = [encode_episode(e) for e in w.closed]
        fields[name] = [w.value, w.t, dict(w.seen), w.policy, closed]
    return orjson.dumps({"r": role, "f": fields}).decode()


def decode_slot(device: str, raw: object) -> list[Write]:
    """The writes in a device's slot; ``ValueError`` unless it is what :func:`encode_slot` makes.

    Slots arrive in other devices' updates, so every part is checked here, where it
    enters: the priority layer and the views then only see well-formed writes.
    """
    body = orjson.loads(raw) if isinstance(raw, str) else None
    if not isinstance(body, dict) or not isinstance(body.get("r"), str):
        raise ValueError(f"malformed slot of device {device!r}")
    fields = body.get("f")
    if not isinstance(fields, dict):
        raise ValueError(f"malformed slot of device {device!r}")
    return [_decode_write(device, body["r"], name, entry) for name, entry in fields.items()]


def _decode_write(device: str, role: str, name: str, entry: object) -> Write:
    if not (isinstance(entry, list) and len(entry) == 5):
        raise ValueError(f"malformed write of {name!r} by {device!r}")
    value, t, seen, policy, closed = entry
    well_formed = (
        _is_scalar(value)
        and _is_time(t)
        and isinstance(seen, dict)
        and all(_is_time(s) for s in seen.values())
        and (policy is None or isinstance(policy, str))
        and isinstance(closed, list)
    )
    if not well_formed:
        raise ValueError(f"malformed write of {name!r} by {device!r}")
    episodes = tuple(decode_episode(e) for e in closed)
    return Write(name, device, role, t, value, seen, policy, episodes)


_SCALARS = frozenset({str, int, float, bool})  # the types a slot's JSON gives a plain value


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float)  # bool is an int


def _is_time(t: object) -> TypeGuard[int]:
    """A hybrid-logical-clock time: an int that fits the store's 64-bit columns."""
    return type(t) is int and 0 <= t < 2**63


def _encode_version(v: Version) -> list[Any]:
    return [v.device, v.role, v.t, v.value]


def _decode_version(raw: object) -> Version:
    if not (isinstance(raw, list) and len(raw) == 4):
        raise ValueError("malformed conflict version")
    device, role, t, value = raw
    if not (
        isinstance(device, str) and isinstance(role, str) and _is_time(t) and _is_scalar(value)
    ):
        raise ValueError("malformed conflict version")
    return Version(device, role, t, value)


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


def decode_episode(body: object) -> Episode:
    """An episode as :func:`encode_episode` writes it; ``ValueError`` for anything else."""
    if not (isinstance(body, dict) and isinstance(body.get("vs"), list)):
        raise ValueError("malformed conflict episode")
    field, policy, time = body.get("f"), body.get("p"), body.get("t")
    resolved_by, is_open = body.get("by"), body.get("open", False)
    if not isinstance(field, str) or not isinstance(policy, str) or not _is_time(time):
        raise ValueError("malformed conflict episode")
    if not (resolved_by is None or isinstance(resolved_by, str)) or not isinstance(is_open, bool):
        raise ValueError("malformed conflict episode")
    return Episode(
        field=field,
        versions=tuple(_decode_version(v) for v in body["vs"]),
        winner=_decode_version(body.get("w")),
        policy=policy,
        time=time,
        resolved_by=resolved_by,
        open=is_open,
    )


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """Decode a Yjs state vector: varuint count, then (client, clock) varuint pairs."""
    values = []
    value = shift = 0
    for byte in sv:  # one loop, no generator: every record that arrives has one
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            values.append(value)
            value = shift = 0
    count = values[0] if values else 0
    if shift or len(values) != 1 + 2 * count:
        raise ValueError("malformed state vector")
    return dict(zip(values[1::2], values[2::2], strict=True))


class RecordContent:
    """Read access to a record's content: metadata, writes, notes, Yjs state vector.

    Subclasses say where the content comes from (:meth:`_read_meta`,
    :meth:`_read_slots`, :meth:`_read_notes`, :meth:`state_vector`); what is
    read is kept until :meth:`_changed` says the content changed.
    """

    _meta_cache: dict[str, Any] | None = None
    _slots_cache: dict[str, object] | None = None
    _writes_cache: list[Write] | None = None
    _resolved_cache: Resolved | None = None
    _notes_cache: dict[str, str] | None = None
    _one_writer = False  # whether the resolution took the one-writer shortcut
    _module: str | None = None  # read with the metadata: asked for many times per record

    def _read_meta(self) -> dict[str, Any]:
        raise NotImplementedError

    def _read_slots(self) -> dict[str, object]:
        raise NotImplementedError

    def _read_notes(self, names: tuple[str, ...]) -> dict[str, str]:
        """The texts of these note fields ("" if never written)."""
        raise NotImplementedError

    def state_vector(self) -> dict[int, int]:
        raise NotImplementedError

    def _changed(self) -> None:
        self._meta_cache = None
        self._slots_cache = None
        self._writes_cache = None
        self._resolved_cache = None
        self._notes_cache = None
        self._one_writer = False

    def _meta(self) -> dict[str, Any]:
        if self._meta_cache is None:
            meta = self._read_meta()
            if not isinstance(meta, dict):
                raise ValueError("malformed record metadata")
            module = meta.get("module")
            self._module = None if module is None else str(module)
            self._meta_cache = meta
        return self._meta_cache

    def _slots(self) -> dict[str, object]:
        if self._slots_cache is None:
            slots = self._read_slots()
            if not isinstance(slots, dict):
                raise ValueError("malformed record slots")
            self._slots_cache = slots
        return self._slots_cache

    @property
    def module(self) -> str | None:
        if self._meta_cache is None:
            self._meta()
        return self._module

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
            # In device order: pycrdt gives a map's keys in an order that can change from
            # one reading to the next, and the order of writes shows in views (the list
            # of ignored writes) and in which malformed slot is reported.
            slots = sorted(self._slots().items())
            self._writes_cache = [w for d, raw in slots for w in decode_slot(d, raw)]
        return self._writes_cache

    def resolved(self) -> Resolved:
        """The priority layer's view of the writes (values, conflicts, rejected writes)."""
        if self._resolved_cache is None:
            module, creator = str(self.module), self.creator
            quick = self._resolve_one_writer(module, creator)
            self._one_writer = quick is not None
            self._resolved_cache = quick or resolve(module, creator, self.writes())
        return self._resolved_cache

    def _resolve_one_writer(self, module: str, creator: str) -> Resolved | None:
        """:func:`resolve_one_writer` for a record with one well-formed slot and no closed
        episodes (most records), read straight from the slot; else ``None``.

        Written out flat: an initial sync runs it for every record. A slot entry must be
        what :func:`encode_slot` makes with no closed episode (as :func:`_decode_write`
        checks it); anything else takes the full path, which says what is wrong.
        """
        slots = self._slots()
        if len(slots) != 1 or self._writes_cache is not None:
            return None
        [(device, raw)] = slots.items()
        body = orjson.loads(raw) if isinstance(raw, str) else None
        if not isinstance(body, dict):
            return None
        role, fields = body.get("r"), body.get("f")
        if not isinstance(role, str) or not isinstance(fields, dict):
            return None
        values: dict[str, JsonValue] = {}
        latest = 0
        for name, entry in fields.items():
            if type(entry) is not list or len(entry) != 5:
                return None
            value, t, seen, policy, closed = entry
            if closed != [] or type(t) is not int or not 0 <= t < 2**63:
                return None
            if not (value is None or type(value) in _SCALARS):
                return None
            if type(seen) is not dict or not (policy is None or type(policy) is str):
                return None
            if seen and not all(_is_time(s) for s in seen.values()):
                return None
            values[name] = value
            if t > latest:
                latest = t
        return resolve_one_writer(module, creator, device, role, values, latest)

    def notes(self) -> dict[str, str]:
        """Every note field of the record's module -> its text ("" if never written)."""
        if self._notes_cache is None:
            self._notes_cache = self._read_notes(get_module(str(self.module)).notes)
        return dict(self._notes_cache)

    def vector(self, writes: list[Write] | None = None) -> dict[str, int]:
        """Device -> time of its latest write in this record (the version vector)."""
        out: dict[str, int] = {}
        for w in writes if writes is not None else self.writes():
            out[w.device] = max(out.get(w.device, -1), w.t)
        return out

    def check(self) -> None:
        """Read all that the replica reads from this record; ``ValueError`` if any of
        it is malformed. Run on a merged remote update before it is stored: a
        well-formed Yjs update can still carry slots, metadata or text that only
        a buggy or hostile device would write."""
        meta = self._meta()
        texts = [meta.get(key, "") for key in ("module", "creator", "creator_role")]
        if not all(isinstance(v, str) for v in texts) or not _is_time(meta.get("created_t", 0)):
            raise ValueError("malformed record metadata")
        if self.module not in MODULES:
            self.writes()
            return  # refused as an unknown module, not read any further
        try:
            resolved = self.resolved()
        except TypeError as exc:  # only forged writes have values the layer cannot compare
            raise ValueError(f"writes that do not resolve: {exc}") from exc
        decoded = get_module(str(self.module)).decoded  # others are stored as they are read
        if decoded:
            # one writer: its writes are the values; else every write, winning or not
            written = (
                resolved.values.items()
                if self._one_writer
                else ((w.field, w.value) for w in self.writes())
            )
            for name, value in written:
                if name in decoded:
                    _check_stored(decoded[name], value)
        self.notes()


class RecordSnapshot(RecordContent):
    """The content of an update applied to an empty document, read once.

    This is the bulk path for records that arrive new (an initial sync brings
    100k of them). A record one device wrote, without note text, is read by
    :func:`read_fresh` alone; any other through the binding under
    :class:`pycrdt.Doc`, whose Python wrapper (locks, root-type objects, a
    transaction per read) costs several times what reading the content does.
    It holds no document: the update itself is the record's state.
    """

    def __init__(self, update: bytes) -> None:
        """``ValueError`` if ``update`` is malformed or needs changes it does not hold."""
        fresh = read_fresh(update)  # one writer, no notes: read without pycrdt (most are)
        if fresh is not None:
            self._meta_read, self._slots_read, self._state_vector = fresh
            self._texts = {}
            return
        reach = check_update(update)  # some malformed updates crash yrs: refuse them unseen
        doc = _RawDoc(None, None, None)
        txn = doc.create_transaction()
        try:
            doc.apply_update(txn, update)
            roots = doc.roots(txn)
            meta = _raw_map(doc, txn, roots, "meta")
            slots = _raw_map(doc, txn, roots, "slots")
            state = doc.get_state(txn)
            self._texts = {
                name[len(NOTE_PREFIX) :]: doc.get_or_insert_text(txn, name).get_string(txn)
                for name in roots
                if name.startswith(NOTE_PREFIX)
            }
            txn.commit()
        except BaseException as exc:  # not _pycrdt_failures: a context manager per record
            failure = _pycrdt_failure(exc, "reading an update")
            if failure is None:
                raise
            raise failure from exc
        finally:
            txn.drop()
        self._meta_read = orjson.loads(meta)
        self._slots_read = orjson.loads(slots)
        self._state_vector = decode_state_vector(state)
        _refuse_pending(self._state_vector, reach)

    @property
    def changed(self) -> bool:
        """Whether the update changes an empty document (it holds some content)."""
        return bool(self._state_vector)

    def _read_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self._meta_read
        return meta

    def _read_slots(self) -> dict[str, object]:
        slots: dict[str, object] = self._slots_read
        return slots

    def _read_notes(self, names: tuple[str, ...]) -> dict[str, str]:
        return {name: self._texts.get(name, "") for name in names}

    def state_vector(self) -> dict[int, int]:
        return self._state_vector


def _refuse_pending(have: Mapping[int, int], reach: Mapping[int, int]) -> None:
    """``ValueError`` if the update reached further than what the document now holds.

    yrs would keep the rest pending, and a document with pending changes can later
    encode differently from what it shows (found by fuzzing). Whole record states,
    which is what peers send, never need anything first.
    """
    if any(have.get(client, 0) < clock for client, clock in reach.items()):
        raise ValueError("the update needs changes this record does not have")


def _raw_map(doc: _RawDoc, txn: _RawTransaction, roots: Mapping[str, Any], name: str) -> str:
    """A root map's JSON ("{}" if the update does not have it)."""
    if name not in roots:
        return "{}"
    return doc.get_or_insert_map(txn, name).to_json(txn)


class RecordDoc(RecordContent):
    """A record's CRDT document with typed accessors; no I/O."""

    def __init__(self, doc: Doc[Any]) -> None:
        self._bind(doc)
        # Reading a pycrdt Map key by key opens a transaction per key: read it whole,
        # once, and keep it until the document changes. Every change goes through this
        # class (apply, init, claim_client, put, set_note), which drops the caches; do
        # not change ``doc`` behind its back.
        self._state: bytes | None = None  # the encoding, while the document is unchanged

    def _bind(self, doc: Doc[Any]) -> None:
        self.doc = doc
        self.slots: Map[str] = doc.get("slots", type=Map)
        self.meta: Map[Any] = doc.get("meta", type=Map)

    def _changed(self) -> None:
        super()._changed()
        self._state = None

    def _read_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = orjson.loads(_read(self.meta))
        return meta

    def _read_slots(self) -> dict[str, object]:
        slots: dict[str, object] = orjson.loads(_read(self.slots))
        return slots

    def _read_notes(self, names: tuple[str, ...]) -> dict[str, str]:
        if not names:
            return {}
        with self.doc.transaction():
            return {name: _read(self.doc.get(NOTE_PREFIX + name, type=Text)) for name in names}

    def apply(self, update: bytes) -> bool:
        """Merge a Yjs update; whether it changed anything. ValueError if it is malformed
        or needs changes this document does not have; then drop the document."""
        reach = check_update(update)  # some malformed updates crash yrs: refuse them unseen
        # Observe only for the length of the call: pycrdt keeps a document that still
        # has an observer alive forever (measured: about 7 KB per document).
        changes: list[bytes] = []
        with _pycrdt_failures("applying an update"):
            subscription = self.doc.observe(lambda event: changes.append(event.update))
            try:
                self.doc.apply_update(update)
            finally:
                self.doc.unobserve(subscription)
                self._changed()
        _refuse_pending(self.state_vector(), reach)
        if changes:
            self._reload()
        return bool(changes)

    def _reload(self) -> None:
        """Rebuild the document from its own encoding, which is what is stored and sent.

        yrs can show a merged document that encodes to something else: found by
        fuzzing, an update that reuses the ids of items already here with other
        content left a slot that read well in memory and did not decode once stored.
        """
        state = self.doc.get_update()
        doc: Doc[Any] = Doc(client_id=self.doc.client_id)
        with _pycrdt_failures("reloading the record"):
            doc.apply_update(state)
        self._bind(doc)
        self._changed()
        self._state = state

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
        return self.doc.get_update() if self._state is None else self._state

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


def _check_stored(field: Field, value: JsonValue) -> None:
    try:
        decode_value(field, value)
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f"{value!r} is not a stored {field.type.value} ({field.name})") from exc


def _read(shared: Map[Any] | Text) -> str:
    """A shared type's text (a map's as JSON); ``ValueError`` if pycrdt cannot read it."""
    with _pycrdt_failures("reading the record"):
        return str(shared)


@contextmanager
def _pycrdt_failures(doing: str) -> Iterator[None]:
    """Turn pycrdt's other failures on malformed data into ``ValueError``.

    pycrdt 0.14 raises ``ValueError`` for an update it cannot decode, but
    ``RuntimeError`` for one it cannot integrate ("block parent must be deleted or
    shared ref type"), and some updates make yrs panic (an index out of bounds
    while applying, a string that is not UTF-8 when reading it back): pyo3 then
    raises its ``PanicException``, which derives from ``BaseException`` and is not
    exported. Only that class, matched by name, is translated; every other
    BaseException (KeyboardInterrupt, SystemExit, CancelledError) passes untouched.
    """
    try:
        yield
    except BaseException as exc:
        failure = _pycrdt_failure(exc, doing)
        if failure is None:
            raise
        raise failure from exc


def _pycrdt_failure(exc: BaseException, doing: str) -> ValueError | None:
    """The ``ValueError`` that :func:`_pycrdt_failures` raises for ``exc``, or ``None``
    if ``exc`` is not one of pycrdt's failures and passes untouched."""
    if isinstance(exc, RuntimeError):
        return ValueError(f"pycrdt failed {doing}: {exc}")
    if (type(exc).__module__, type(exc).__name__) == _PANIC:
        return ValueError(f"pycrdt panicked {doing}: {exc}")
    return None


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
