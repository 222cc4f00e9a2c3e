"""Signed records for tests: three devices with real keys (main ``hq``, ``office``, and
``mallory``, a travel device) and the registry view verification asks for."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from roamsync.peer.record import RecordDoc, signed_claim

ROLES = {"hq": "main", "office": "office", "mallory": "travel"}
CLIENTS = {"hq": 10, "office": 20, "mallory": 30}
RECORD = "r1"


class Registry:
    """Keys for the three devices, and their roles (``Keys`` for verify_state)."""

    def __init__(self) -> None:
        self.keys = {d: ec.generate_private_key(ec.SECP256R1()) for d in ROLES}

    def role(self, device: str) -> str | None:
        return ROLES.get(device)

    def verify(self, device: str, message: bytes, signature: bytes) -> bool:
        try:
            self.keys[device].public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def signer(self, device: str) -> Callable[[bytes], bytes]:
        return lambda message: self.keys[device].sign(message, ec.ECDSA(hashes.SHA256()))


REG = Registry()


def claims(device: str, client: int) -> dict[int, str]:
    sign = REG.signer(device)
    return {c: signed_claim(device, ROLES[device], c, sign) for c in (client, client + 1)}


def write(rec: RecordDoc, device: str, values: dict[str, object], t: int, role: str = "") -> None:
    """A signed write as ``device`` (with ``role`` if given: a lie about it)."""
    as_role = role or ROLES[device]
    with rec.doc.transaction():
        rec.claim_client(device, as_role, claims(device, rec.doc.client_id))
        rec.put(device, as_role, t, values, signed=(RECORD, REG.signer(device)))  # type: ignore[arg-type]


def created() -> RecordDoc:
    """A product main made (travel devices may not change products)."""
    rec = RecordDoc.load(CLIENTS["hq"])
    with rec.doc.transaction():
        rec.init("products", "hq", "main", 1)
    write(rec, "hq", {"name": "Widget", "price": "100.00"}, 2)
    return rec


def copy(rec: RecordDoc, device: str) -> RecordDoc:
    """The record as ``device``'s replica holds it."""
    return RecordDoc.load(CLIENTS[device], rec.encode())
