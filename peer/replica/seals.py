"""Main's seals: what it signed or verified, listed under one signature for many slots.

Checking a slot's signature costs about 60 µs here, so a replica that takes a
whole company from another device would spend seconds on them. Main keeps the
:func:`~roamsync.peer.record.signing.seal_digest` of every slot it signs and of
every slot signature it verifies; :meth:`Peer.seal
<roamsync.peer.replica.peer.Peer.seal>` writes them, :data:`SEAL_SIZE` at a time,
as records of the system module ``seals`` that main alone may write. A replica
that holds a seal takes the pairs it lists as verified (``RegistryKeys``), and
peers send seals before the rest of an initial sync (``Peer.first``).

Pending digests are kept in memory: the ones a crash loses only cost their
records a signature check later.
"""

from __future__ import annotations

from collections.abc import Iterable

from roamsync.peer.record import Signer
from roamsync.peer.record.signing import is_seal_message, seal_digest, split_digests

SLOT_PREFIX = b"roamsync slot v1\0"
SEAL_MIN = 256  # pending digests worth a seal when main closes (fewer: not worth a record)
SEAL_MODULE = "seals"
SEAL_PREFIX = "seal-"  # the ids of seal records


class Seals:
    """Digests waiting to be sealed (main only)."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def __len__(self) -> int:
        return len(self.pending)

    def signing(self, sign: Signer) -> Signer:
        """``sign``, keeping the digest of every slot it signs (but a seal record's)."""

        def signed(message: bytes) -> bytes:
            signature = sign(message)
            if message.startswith(SLOT_PREFIX) and not is_seal_message(message):
                self.pending.append(seal_digest(message, signature))
            return signature

        return signed

    def add(self, digests: Iterable[bytes]) -> None:
        self.pending.extend(digests)

    def add_blob(self, blob: bytes) -> None:
        """Digests verified in the worker process, as it sends them back."""
        self.pending.extend(split_digests(blob))

    def take(self) -> list[bytes]:
        pending, self.pending = self.pending, []
        return pending
