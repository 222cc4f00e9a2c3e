"""The company's device registry and enrolment invitations.

The registry is an ordinary replicated module, ``devices``, that only main
may write (the permission layer enforces it on every replica). Each entry has
the record id ``device-<device id>`` and holds the device's name, role, full
certificate fingerprint, certificate and status. Peers accept a TLS
connection only from a certificate whose fingerprint has an active entry.

Invitations live only on main (its store's metadata): a code is
``<main fingerprint>.<invitation id>.<secret>``. The fingerprint lets the
joining device check it is talking to the real main before it sends the
secret; five wrong secrets for one invitation lock it; it expires and can be
used once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from roamsync.peer.org.config import device_id
from roamsync.peer.record.signing import KeySet, claim_message, decode_seal, seal_digest
from roamsync.peer.replica import Peer
from roamsync.peer.replica.seals import SEAL_MODULE
from roamsync.peer.store.meta import Invitation
from roamsync.schema import (
    EnrolledError,
    InvitationError,
    PermissionDeniedError,
    TlsError,
    UsageError,
)
from roamsync.transport import tls

MAX_ATTEMPTS = 5
DEFAULT_TTL = 24 * 3600.0
MAX_TTL = 30 * 24 * 3600.0  # an invitation is valid at most 30 days


@dataclass(frozen=True)
class DeviceEntry:
    device: str
    name: str
    role: str
    fingerprint: str
    cert: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


def entry_id(device: str) -> str:
    return f"device-{device}"


def devices(peer: Peer) -> list[DeviceEntry]:
    return [
        DeviceEntry(
            device=device_id(r["fingerprint"]),
            name=r["name"],
            role=r["role"],
            fingerprint=r["fingerprint"],
            cert=r["cert"],
            status=r["status"] or "active",
        )
        for r in peer.list("devices")
    ]


def lookup(peer: Peer, fingerprint: str | None) -> DeviceEntry | None:
    """The active registry entry for a certificate fingerprint, if any."""
    if not fingerprint:
        return None
    for entry in devices(peer):
        if entry.fingerprint == fingerprint and entry.active:
            return entry
    return None


def known(peer: Peer, fingerprint: str) -> bool:
    """Whether a certificate has a registry entry, active or revoked."""
    return peer.store.state(entry_id(device_id(fingerprint))) is not None


async def enroll(peer: Peer, name: str, role: str, fingerprint: str, cert: str) -> DeviceEntry:
    """Add a device to the registry (main only). A certificate is enrolled once: a
    revoked device stays revoked, and a device cannot be enrolled with another role."""
    if any(e.name == name and e.active for e in devices(peer)):
        raise UsageError(f"a device named {name!r} is enrolled already")
    if known(peer, fingerprint):
        raise EnrolledError("that certificate is in the registry already: make a new device")
    fields = {"name": name, "role": role, "fingerprint": fingerprint, "cert": cert}
    record = entry_id(device_id(fingerprint))
    await peer.create("devices", {**fields, "status": "active"}, record_id=record)
    return DeviceEntry(device_id(fingerprint), name, role, fingerprint, cert, "active")


async def revoke(peer: Peer, device_or_name: str) -> DeviceEntry:
    """Disconnect a device: its certificate is no longer accepted; its data stays."""
    for entry in devices(peer):
        if device_or_name in (entry.device, entry.name, entry.fingerprint) and entry.active:
            if entry.device == peer.device:
                raise UsageError("main cannot disconnect itself")
            await peer.update("devices", entry_id(entry.device), {"status": "revoked"})
            return DeviceEntry(**{**entry.__dict__, "status": "revoked"})
    raise UsageError(f"no enrolled device {device_or_name!r}")


CLAIM_PREFIX = claim_message(0, "")[:15]  # b"roamsync claim "


class RegistryKeys:
    """The registry's keys and roles, for verifying signed writes (:class:`Keys`).

    Entries are read when a device is first asked for and kept: a device's role
    and certificate never change (revocation only changes its status, and what
    it signed before stays signed). Main is known from the configuration, whose
    certificate was pinned at ``join``, before any registry record arrives.

    Main's seals (``roamsync.peer.replica.seals``) in this replica's store are
    read on first use and again on :meth:`refresh` (after a batch that brought
    some): a sealed slot signature needs no check. On main, the digest of every
    slot signature that verifies is handed to ``peer.seals``, to be sealed.
    """

    def __init__(self, peer: Peer, main_device: str, trusted: list[str]) -> None:
        self.peer = peer
        self._roles: dict[str, str] = {}
        self._certs: dict[str, str] = {}
        self._checks: dict[str, Callable[[bytes, bytes], bool]] = {}
        self._claims: set[tuple[str, bytes, bytes]] = set()  # verified: a claim is in every record
        self.good_claims: set[tuple[int, object]] = set()  # (client, claim) that verified
        self._sealed: set[bytes] = set()
        self._seal_ids: set[str] | None = None  # the seal records read (None: not yet)
        self._generation = 0  # of the sealed digests: the worker keeps the last it got
        self._sent = -1  # the generation the last snapshot carried
        self._collect = peer.role == "main"
        for cert in trusted:
            try:
                if device_id(tls.fingerprint_of(cert)) == main_device:
                    self._learn(main_device, "main", cert)
            except TlsError:
                continue

    def _learn(self, device: str, role: str, cert: str) -> None:
        self._roles[device] = role
        self._certs[device] = cert
        self._checks[device] = tls.verifier(cert)

    def _lookup(self, device: str) -> bool:
        if device in self._roles:
            return True
        for entry in devices(self.peer):
            if entry.device not in self._roles:
                try:
                    self._learn(entry.device, entry.role, entry.cert)
                except TlsError:
                    continue
        return device in self._roles

    def _read_seals(self) -> set[bytes]:
        if self._seal_ids is None:
            self._seal_ids = set()
        if self.peer.role != "main":  # main checks every signature: it is the one sealing
            for seal in self.peer.list(SEAL_MODULE):
                if seal["id"] not in self._seal_ids:
                    self._seal_ids.add(seal["id"])
                    self._sealed.update(decode_seal(seal["hashes"]))
                    self._generation += 1
        return self._sealed

    def refresh(self) -> None:
        """Read the registry entries and seals stored since (a batch brought some)."""
        self._lookup("")
        self._read_seals()

    def role(self, device: str) -> str | None:
        return self._roles.get(device) if self._lookup(device) else None

    def snapshot(self, share: int = 1) -> KeySet:
        """Every key known now, as plain data (for the worker process, which checks
        every ``share``-th record of a batch), with the sealed digests if they changed
        since the last snapshot."""
        self._lookup("")  # reads the registry: entries enrolled since are learnt
        sealed = self._sealed if self._seal_ids is not None else self._read_seals()
        generation = self._generation
        blob = b"".join(sealed) if generation != self._sent else None
        self._sent = generation
        return KeySet(self._roles, self._certs, share, sealed, generation, blob, self._collect)

    def verify(self, device: str, message: bytes, signature: bytes) -> bool:
        if (device, message, signature) in self._claims:
            return True
        sealed = self._sealed if self._seal_ids is not None else self._read_seals()
        digest = seal_digest(message, signature)
        if digest in sealed:
            return True
        good = self._lookup(device) and self._checks[device](signature, message)
        if good and message.startswith(CLAIM_PREFIX):
            self._claims.add((device, message, signature))
        elif good and self._collect:
            self.peer.seals.add((digest,))
        return good


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invite(peer: Peer, fingerprint: str, role: str, ttl: float = DEFAULT_TTL) -> str:
    """Create a single-use invitation on main and return its code."""
    if peer.role != "main":
        raise PermissionDeniedError("only the main device can invite devices")
    if role not in ("office", "travel"):
        raise UsageError(f"a new device is office or travel, not {role!r}")
    if not (isinstance(ttl, int | float) and 0 < ttl <= MAX_TTL):  # NaN fails this too
        raise UsageError(f"an invitation is valid for 0 to {MAX_TTL:.0f} seconds, not {ttl!r}")
    invitation = secrets.token_hex(3)
    secret = secrets.token_urlsafe(9)
    peer.meta.save_invitation(invitation, Invitation(_hash(secret), role, time.time() + ttl))
    return f"{fingerprint}.{invitation}.{secret}"


def parse_code(code: str) -> tuple[str, str, str]:
    """(main fingerprint, invitation id, secret) of an invitation code."""
    parts = code.strip().split(".")
    if len(parts) != 3 or len(parts[0]) != 64 or not all(parts):
        raise InvitationError("that is not a roamsync invitation code")
    return parts[0], parts[1], parts[2]


def redeem(peer: Peer, invitation: str, secret: str) -> str:
    """Use an invitation; returns the role it grants. Counts wrong secrets and locks."""
    found = peer.meta.invitation(invitation)
    if found is None:
        raise InvitationError("unknown invitation")
    if found.used:
        raise InvitationError("this invitation has been used")
    if found.attempts >= MAX_ATTEMPTS:
        raise InvitationError("this invitation is locked after too many wrong codes")
    if time.time() > found.expires:
        raise InvitationError("this invitation has expired")
    if not hmac.compare_digest(found.hash, _hash(secret)):
        found = replace(found, attempts=found.attempts + 1)
        peer.meta.save_invitation(invitation, found)
        raise InvitationError(f"wrong code ({MAX_ATTEMPTS - found.attempts} attempts left)")
    peer.meta.save_invitation(invitation, replace(found, used=True))
    return found.role
