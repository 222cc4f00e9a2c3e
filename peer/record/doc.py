"""One record as one pycrdt document, laid out so no concurrent write is lost.

Layout of a record's document (all root types, which Yjs merges by name):

* ``meta`` (Map): ``module``, ``creator``, ``creator_role``, ``created_t``,
  written once by the creating device, and ``a:<client id>`` -> the device and
  role behind a Yjs client id, written with that client's first change.
* ``slots`` (Map): key ``<device>`` -> JSON of that device's latest
  :class:`~roamsync.peer.core.priority.Write` of every field it wrote. Each key has
  a single writer, so Yjs never has to drop one of two concurrent values
  (which it would for two devices setting one key, or creating one nested
  map); and since a device always overwrites the same key, Yjs squashes the
  overwritten versions into one deleted range, so repeated edits do not grow
  the document.
* ``note:<field>`` (Text): rich note text, merged character by character.
  A device edits notes under a second Yjs client id (its *notes lane*), so
  its note items never sit between two of its slot versions in the clock
  order, which would stop Yjs from squashing them.

The priority layer (:mod:`roamsync.peer.core.priority`) turns the slots into the
resolved view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pycrdt import Doc, Map, Text

from roamsync.peer.core.acting import ACTING
from roamsync.peer.core.priority import (
    RETENTION,
    Write,
    close_episode,
    heads,
    is_allowed,
    open_episode,
)
from roamsync.peer.record.content import RecordContent
from roamsync.peer.record.failures import pycrdt_failures
from roamsync.peer.record.layout import NOTE_PREFIX, SEP, decode_state_vector, encode_slot
from roamsync.peer.record.signing import Signer, identity, signed_slot
from roamsync.peer.record.snapshot import refuse_pending
from roamsync.peer.record.text import edits
from roamsync.peer.record.yjs import check_update
from roamsync.schema import JsonValue


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
        with pycrdt_failures("applying an update"):
            subscription = self.doc.observe(lambda event: changes.append(event.update))
            try:
                self.doc.apply_update(update)
            finally:
                self.doc.unobserve(subscription)
                self._changed()
        refuse_pending(self.state_vector(), reach)
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
        with pycrdt_failures("reloading the record"):
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

    def claim_client(
        self,
        device: str,
        role: str,
        claims: Mapping[int, str] | None = None,
        *,
        notes: bool = True,
    ) -> None:
        """Say which device writes as this document's client ids (once per record);
        ``claims``: the signed claims of the two clients (:mod:`.signing`); ``notes``:
        claim the notes lane too (a record it never writes need not hold its claim)."""
        self._changed()
        clients = (self.doc.client_id, self.notes_client_id) if notes else (self.doc.client_id,)
        for client in clients:
            key = f"a:{client}"
            claim = claims.get(client) if claims else None
            if key not in self.meta or (claim is not None and self.meta.get(key) != claim):
                # a claim written before writes were signed is signed now
                self.meta[key] = claim or f"{device}{SEP}{role}"

    def put(
        self,
        device: str,
        role: str,
        t: int,
        values: Mapping[str, JsonValue],
        *,
        policy: str | None = None,
        chosen: Mapping[str, Write] | None = None,
        signed: tuple[str, Signer] | None = None,
    ) -> None:
        """Write ``values`` as ``device`` at time ``t`` (call inside a transaction).

        A write that had seen a conflict on its field closes it and records the
        episode; ``policy`` and ``chosen`` say how, for a resolving write.
        ``signed``: (record id, signer) to sign the slot (:mod:`.signing`).
        """
        writes = self.writes()
        self._changed()
        seen = {d: v for d, v in self.vector(writes).items() if d != device}
        module = str(self.module)
        mine = {w.field: w for w in writes if w.device == device}
        user = ACTING.get()
        for name, value in values.items():
            field_writes = [w for w in writes if w.field == name]
            new = Write(name, device, role, t, value, seen, policy, user=user)
            allowed_heads = heads(w for w in field_writes if is_allowed(module, self.creator, w))
            own = mine.get(name)
            closed = [e for e in (own.closed if own else ()) if e.time >= t - RETENTION]
            episode = open_episode(name, allowed_heads)
            if episode is not None:
                closed.append(close_episode(episode, new, (chosen or {}).get(name)))
            mine[name] = Write(name, device, role, t, value, seen, policy, tuple(closed), user)
        body = encode_slot(role, mine)
        if signed is not None:
            record_id, sign = signed
            client = int(self.doc.client_id)
            at = (client, decode_state_vector(self.doc.get_state()).get(client, 0))
            what = identity(self._meta())
            body = signed_slot(body, record_id, what, device, at, sign)  # held by the next item
        self.slots[device] = body

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


def _read(shared: Map[Any] | Text) -> str:
    """A shared type's text (a map's as JSON); ``ValueError`` if pycrdt cannot read it."""
    with pycrdt_failures("reading the record"):
        return str(shared)


def _edit_text(text: Text, new: str) -> None:
    """Make ``text`` read ``new`` by its small edits, right to left (so each edit's
    offsets still hold), leaving every other character, and its author, in place."""
    old = str(text)
    for edit in reversed(edits(old, new)):
        # pycrdt indexes text by UTF-8 byte offset, not by Python character.
        lo = len(old[: edit.start].encode())
        hi = lo + len(old[edit.start : edit.end].encode())
        if hi > lo:
            del text[lo:hi]
        if edit.text:
            text.insert(lo, edit.text)
