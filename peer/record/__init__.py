"""A record as a Yjs document: the only code that knows Yjs and pycrdt.

* :mod:`.layout`: the JSON inside a record (slots, writes, episodes), pure;
* :mod:`.content`: reading a record's content, wherever it comes from;
* :mod:`.doc`: :class:`RecordDoc`, a live pycrdt document, for local writes and merges;
* :mod:`.snapshot`: :class:`RecordSnapshot`, an update read once (records arriving new);
* :mod:`.yjs`: a structural check of every incoming Yjs update (some crash pycrdt) and a
  reader for records one device wrote that needs no pycrdt;
* :mod:`.failures`: pycrdt's failures on malformed data, translated to ``ValueError``;
* :mod:`.ystate`: a record's whole state read item by item (who wrote what, where);
* :mod:`.signing`: signed claims and slots, and the check of a record's state.
"""

from roamsync.peer.record.content import RecordContent
from roamsync.peer.record.doc import RecordDoc
from roamsync.peer.record.layout import (
    decode_episode,
    decode_slot,
    decode_state_vector,
    encode_episode,
    encode_slot,
)
from roamsync.peer.record.signing import Keys, Signer, signed_claim, verify_state
from roamsync.peer.record.snapshot import RecordSnapshot

__all__ = [
    "Keys",
    "RecordContent",
    "RecordDoc",
    "RecordSnapshot",
    "Signer",
    "decode_episode",
    "decode_slot",
    "decode_state_vector",
    "encode_episode",
    "encode_slot",
    "signed_claim",
    "verify_state",
]
