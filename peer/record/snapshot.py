"""A record that arrives new, read from its update without a live document.

This is the bulk path: an initial sync brings 100k records, each new here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pycrdt._pycrdt import Doc as _RawDoc  # the Rust binding under pycrdt.Doc (pinned)
from pycrdt._pycrdt import Transaction as _RawTransaction

from roamsync.peer.record.content import RecordContent
from roamsync.peer.record.failures import pycrdt_failure
from roamsync.peer.record.layout import NOTE_PREFIX, decode_state_vector
from roamsync.peer.record.yjs import Fresh, Ids, check_update, read_fresh


class RecordSnapshot(RecordContent):
    """The content of an update applied to an empty document, read once.

    This is the bulk path for records that arrive new (an initial sync brings
    100k of them). A record one device wrote, without note text, is read by
    :func:`read_fresh` alone; any other through the binding under
    :class:`pycrdt.Doc`, whose Python wrapper (locks, root-type objects, a
    transaction per read) costs several times what reading the content does.
    It holds no document: the update itself is the record's state.
    """

    fresh: Fresh | None  # the update as read_fresh read it (signing.verify_state reuses it)

    def __init__(self, update: bytes) -> None:
        """``ValueError`` if ``update`` is malformed or needs changes it does not hold."""
        self.ids: Ids = {}  # the Yjs id of each live value, if read_fresh read it
        self.fresh = read_fresh(update, self.ids)  # one writer, no notes: no pycrdt (most are)
        if self.fresh is not None:
            self._meta_read, self._slots_read, self._state_vector = self.fresh
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
            failure = pycrdt_failure(exc, "reading an update")
            if failure is None:
                raise
            raise failure from exc
        finally:
            txn.drop()
        self._meta_read = orjson.loads(meta)
        self._slots_read = orjson.loads(slots)
        self._state_vector = decode_state_vector(state)
        refuse_pending(self._state_vector, reach)

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


def refuse_pending(have: Mapping[int, int], reach: Mapping[int, int]) -> None:
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
