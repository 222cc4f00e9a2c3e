"""Reading a record's content, wherever it comes from: metadata, writes, notes, the view.

:class:`RecordContent` holds what every reader shares (caches, the priority
layer's resolution, the one-writer shortcut, the check of a merged update);
:class:`~roamsync.peer.record.doc.RecordDoc` reads a live pycrdt document and
:class:`~roamsync.peer.record.snapshot.RecordSnapshot` an update applied to
nothing.
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any

import orjson

from roamsync.peer.core.priority import Resolved, Write, resolve, resolve_one_writer
from roamsync.peer.record.layout import MAX_TIME, SCALARS, SEP, SIG, decode_slot, is_time
from roamsync.schema import MODULES, Field, JsonValue, get_module
from roamsync.schema.fields import decode_value


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
        device, _, rest = raw.partition(SEP)
        return device, rest.partition(SEP)[0]  # a signed claim has a signature after the role

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
        body = orjson.loads(raw.partition(SIG)[0]) if isinstance(raw, str) else None
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
            if closed != [] or type(t) is not int or not 0 <= t < MAX_TIME:
                return None
            if not (value is None or type(value) in SCALARS):
                return None
            if type(seen) is not dict or not (policy is None or type(policy) is str):
                return None
            if seen and not all(is_time(s) for s in seen.values()):
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
        if not all(isinstance(v, str) for v in texts) or not is_time(meta.get("created_t", 0)):
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


def _check_stored(field: Field, value: JsonValue) -> None:
    try:
        decode_value(field, value)
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f"{value!r} is not a stored {field.type.value} ({field.name})") from exc
