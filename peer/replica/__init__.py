"""A replica: the :class:`Peer` facade and the parts it is made of.

* :mod:`.peer`: :class:`Peer`, lifecycle, writes and reads;
* :mod:`.syncing`: the part of a Peer that sync sessions use, and main's seals;
* :mod:`.seals`: what main signed or verified, waiting to be sealed;
* :mod:`.records`: documents and views, and the one commit path;
* :mod:`.merge`: the merge pipeline for updates from other replicas;
* :mod:`.arrival`, :mod:`.worker`: records arriving new, read in a worker process;
* :mod:`.rows`: a record's store row, and the matrix check of merged changes;
* :mod:`.feed`: the change feed and each peer's checkpoint;
* :mod:`.conflicts`: the conflict log and policies;
* :mod:`.numbering`: quote and order numbers;
* :mod:`.cache`: the bounded document cache;
* :mod:`.repair`: ``roamsync repair``, a damaged store rebuilt from what can be read.
"""

from roamsync.peer.replica.conflicts import Conflict
from roamsync.peer.replica.merge import ApplyResult
from roamsync.peer.replica.peer import DeviceId, Peer, RecordId

__all__ = ["ApplyResult", "Conflict", "DeviceId", "Peer", "RecordId"]
