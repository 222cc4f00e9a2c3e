"""Signed writes: what a device signs, and the check of a record's whole state.

A compromised enrolled device can craft any Yjs update. What it cannot do is
sign with another device's key. Two things in a record are signed:

* **Claims** (``meta["a:<client>"]``): "Yjs client C is device D's". The
  claim is ``D<SEP>role<SEP>signature`` over :func:`claim_message` (the client
  and the device); a device signs its two clients once per store (the claim is
  the same in every record), so a claim costs no signature per write.
* **Slots** (``slots[D]``, every field D wrote, with times, version vector and
  the conflicts it closed): ``<slot JSON><SIG>signature`` over
  :func:`slot_message`, which binds the record id, the device, and the Yjs id
  (client, clock) of the very item that holds the slot. A signed slot cannot
  be moved to another record or replayed at another place in this one.

:func:`verify_state` checks a record's whole state (what peers send) against
the registry's keys (:class:`Keys`); every replica runs the same check on
the same bytes and gets the same answer:

1. every client that wrote anything has a claim, written by the client itself
   (or by its slot lane, for a notes lane), signed by a known device;
2. the claimed role, and every role a slot gives, is the registry's;
3. every slot ``slots[D]`` is held by an item of a client D claimed, signed by
   D for that record and that item's id; its chain of values is one line that
   ends in the live value (nothing deleted D's value without writing another);
4. the last item of every slot lane (even client) is its device's slot, so
   items appended to another device's client are refused;
5. the record's creation (module, creator) was written by the creator's client.

**Seals** make an initial sync cheap. Checking one signature costs about 60 µs
here: one per record is seconds for a company. Main *seals* every slot it
signed or verified: a seal record (module ``seals``) lists the
:func:`seal_digest` of (slot message, signature) pairs, up to
:data:`SEAL_SIZE` of them, and main's signed slot covers the list. A replica
that holds a seal takes a sealed pair as verified without checking its
signature; every other check still runs. The digest covers the signature
too, so a replica without the seal, checking the signature, gets the same
answer.

What it does not cover yet: the *text* of note fields (its characters are
attributed to a claimed client, but a relay could alter a note's characters
on their way to a replica that had none of them); see README, "Threat model".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence, Set
from typing import Protocol

import orjson

from roamsync.peer.record.layout import SEP, SIG
from roamsync.peer.record.yjs import Fresh, Ids, read_fresh
from roamsync.peer.record.ystate import Struct, YState, read_state
from roamsync.transport import tls

Signer = Callable[[bytes], bytes]
INIT_KEYS = ("module", "creator", "creator_role", "created_t")
DIGEST = 16  # bytes of a seal digest (BLAKE2b-128: finding a second pair takes 2^128 tries)
SEAL_SIZE = 2048  # digests in one seal record: 43,692 characters of base64, under MAX_TEXT


class Keys(Protocol):
    """The registry, as verification needs it."""

    def role(self, device: str) -> str | None:
        """The device's role, ``None`` if it is not in the registry (never enrolled)."""

    def verify(self, device: str, message: bytes, signature: bytes) -> bool:
        """Whether ``device``'s key made ``signature`` over ``message``."""


_State = tuple[dict[str, str], dict[str, str], int, int, bytes | None, bool]


class KeySet:
    """:class:`Keys` as plain data (device -> role and certificate, the sealed digests),
    to send to the worker process that reads the records of an initial sync; verifiers
    are made on first use.

    The sealed digests are many: a snapshot carries them (``blob``) only when they
    changed since the last one sent, and the worker keeps the last it got by
    ``generation`` (:func:`_sealed_in_worker`); one that lacks them checks signatures.
    ``collect``: keep the digests of what verifies (main seals them).
    """

    def __init__(
        self,
        roles: Mapping[str, str],
        certs: Mapping[str, str],
        share: int = 1,
        sealed: Set[bytes] = frozenset(),
        generation: int = 0,
        blob: bytes | None = None,
        collect: bool = False,
    ) -> None:
        self.roles = dict(roles)
        self.certs = dict(certs)
        self.share = share  # the worker checks every share-th record of a batch
        self.sealed = sealed
        self.generation = generation
        self.blob = blob
        self.collect = collect
        self.verified: list[bytes] = []  # digests of what verified (with ``collect``)
        self._checks: dict[str, Callable[[bytes, bytes], bool]] = {}
        self._claims: set[tuple[str, bytes, bytes]] = set()
        self.good_claims: set[tuple[int, object]] = set()  # (client, claim) that verified

    def __getstate__(self) -> _State:
        return self.roles, self.certs, self.share, self.generation, self.blob, self.collect

    def __setstate__(self, state: _State) -> None:
        roles, certs, share, generation, blob, collect = state
        sealed = _sealed_in_worker(generation, blob)
        self.__init__(roles, certs, share, sealed, generation, None, collect)  # type: ignore[misc]

    def role(self, device: str) -> str | None:
        return self.roles.get(device)

    def verify(self, device: str, message: bytes, signature: bytes) -> bool:
        if (device, message, signature) in self._claims:
            return True
        digest = seal_digest(message, signature)
        if digest in self.sealed:
            return True
        check = self._checks.get(device)
        if check is None:
            cert = self.certs.get(device)
            if cert is None:
                return False
            check = self._checks[device] = tls.verifier(cert)
        good = check(signature, message)
        if good and message.startswith(b"roamsync claim "):
            self._claims.add((device, message, signature))
        elif good and self.collect:
            self.verified.append(digest)
        return good


_WORKER_SEALS: dict[str, object] = {"generation": None, "sealed": frozenset()}


def _sealed_in_worker(generation: int, blob: bytes | None) -> Set[bytes]:
    """The sealed digests of ``generation`` in the worker process: from ``blob`` if it
    came, else the ones kept from an earlier snapshot of the same generation, else none."""
    if blob is not None:
        _WORKER_SEALS.update(generation=generation, sealed=frozenset(split_digests(blob)))
    if _WORKER_SEALS["generation"] == generation:
        return _WORKER_SEALS["sealed"]  # type: ignore[return-value]
    return frozenset()


def seal_digest(message: bytes, signature: bytes) -> bytes:
    """What a seal lists of a signed slot: a digest of its message and its signature."""
    digest = hashlib.blake2b(digest_size=DIGEST, person=b"roamsync seal v1")
    digest.update(len(message).to_bytes(8, "big"))
    digest.update(message)
    digest.update(signature)
    return digest.digest()


def split_digests(blob: bytes) -> list[bytes]:
    """The digests in a seal's decoded list (a partial one at the end is dropped)."""
    return [blob[i : i + DIGEST] for i in range(0, len(blob) - DIGEST + 1, DIGEST)]


def encode_seal(digests: Sequence[bytes]) -> str:
    return base64.b64encode(b"".join(digests)).decode()


def decode_seal(text: object) -> list[bytes]:
    """The digests of a seal record's ``hashes`` field (none if it is not base64)."""
    return split_digests(_unbase64(text)) if isinstance(text, str) else []


def is_seal_message(message: bytes) -> bool:
    """Whether ``message`` is the slot message of a seal record (seals are not sealed)."""
    return message.startswith(b"roamsync slot v1\0seal-")


def claim_message(client: int, device: str) -> bytes:
    return f"roamsync claim v1\0{client}\0{device}".encode()


def identity(meta: Mapping[str, object]) -> str:
    """What a record is, as its metadata says (written once, by its creator): every
    slot signature binds it, so a record cannot be rebuilt as another module."""
    created = meta.get("created_t")
    created_t = int(created) if isinstance(created, int | float) else 0
    return "\0".join([*(str(meta.get(k) or "") for k in INIT_KEYS[:3]), str(created_t)])


def slot_message(
    record_id: str, device: str, client: int, clock: int, body: str, what: str = ""
) -> bytes:
    head = f"roamsync slot v1\0{record_id}\0{what}\0{device}\0{client}\0{clock}\0"
    return head.encode() + body.encode()


def signed_claim(device: str, role: str, client: int, sign: Signer) -> str:
    signature = base64.b64encode(sign(claim_message(client, device))).decode()
    return f"{device}{SEP}{role}{SEP}{signature}"


def signed_slot(
    body: str, record_id: str, what: str, device: str, at: tuple[int, int], sign: Signer
) -> str:
    """The slot ``body`` with its signature; ``what``: the record's :func:`identity`."""
    client, clock = at
    signature = sign(slot_message(record_id, device, client, clock, body, what))
    return body + SIG + base64.b64encode(signature).decode()


def slot_body(raw: str) -> str:
    """A slot's JSON without its signature (if it has one)."""
    body, _, _ = raw.partition(SIG)
    return body


def verify_state(
    record_id: str,
    update: bytes,
    keys: Keys,
    known: Mapping[int, int] | None = None,
    read: tuple[Fresh | None, Ids] | None = None,
) -> str | None:
    """Why a record's whole state does not verify, or ``None`` (module docstring).

    checked when it came (or, written before writes were signed, taken as it was), so
    only new items are checked: claims and slots written since, and the clients that
    wrote them; the chains of slot values are checked whole (a deletion is new in
    effect, whoever's item it deletes)."""
    try:
        if not known:  # most records of an initial sync: one device's, never edited
            fresh, ids = read if read is not None else _read_fresh(update)
            if fresh is not None and ("", "deleted") not in ids and len(fresh[2]) == 1:
                return _verify_fresh(record_id, fresh, ids, keys)
        state = read_state(update)
        return _verify(record_id, state, keys, known or {})
    except Exception as exc:
        return f"the record does not verify: {type(exc).__name__}: {exc}"


def _read_fresh(update: bytes) -> tuple[Fresh | None, Ids]:
    ids: Ids = {}
    return read_fresh(update, ids), ids


def _verify_fresh(record_id: str, fresh: Fresh, ids: Ids, keys: Keys) -> str | None:
    """:func:`_verify` for a state of one Yjs client that deletes nothing (what
    :func:`read_fresh` reads): the same checks, and the same answers, with no second
    parse. Every item is the client's and live, so each key's value is its only item."""
    meta, slots, vector = fresh
    [(client, end)] = vector.items()
    owner = None
    for key, value in meta.items():
        if key.startswith("a:"):
            claimed = _int(key[2:])
            problem = _claim_problem(claimed, client, value, keys)
            if problem:
                return problem
            if claimed == client:
                owner = str(value).split(SEP, 1)[0]
    if owner is None:
        return f"changes by Yjs client {client}, which no device claims"
    [(device, value)] = slots.items()
    _, clock = ids["slots", device]
    item = Struct(client, clock, 1, False, value=value)
    problem = _slot_problem(record_id, identity(meta), device, item, {client: owner}, keys)
    if problem:
        return problem
    if client % 2 == 0 and clock != end - 1:
        return f"client {client} of {owner} ends in something that is not its slot"
    if any(key in meta for key in INIT_KEYS) and meta.get("creator") != owner:
        return "the record's creation was not written by its creator"
    return None


def _verify(record_id: str, state: YState, keys: Keys, known: Mapping[int, int]) -> str | None:
    meta, slots = state.live("meta"), state.live("slots")

    def new(s: Struct) -> bool:
        return s.clock + s.length > known.get(s.client, 0)

    writers = {c for c, structs in state.structs.items() if new(structs[-1])}
    owners: dict[int, str] = {}
    for key, item in meta.items():
        if not key.startswith("a:"):
            continue
        client = _int(key[2:])
        owners[client] = str(item.value).split(SEP, 1)[0]
        if new(item) or client in writers:
            problem = _claim_problem(client, item.client, item.value, keys)
            if problem:
                return problem
    for client in state.structs:  # a writer's claim is never deleted: a deletion is forged
        if client not in owners:
            return f"changes by Yjs client {client}, which no device claims"
    for meta_key in {state.parent(item)[1] for item in state.items("meta")}:
        if meta_key is None or not state.chain_ends_live("meta", meta_key):  # written once
            return f"the record's {meta_key} was deleted, or written twice at once"
    what = identity({k: s.value for k, s in meta.items()})
    for device in {state.parent(item)[1] for item in state.items("slots")}:
        if device is None or device not in slots or not state.chain_ends_live("slots", device):
            return f"the slot of {device} was deleted, or written twice at once"
        item = slots[device]
        if new(item):
            problem = _slot_problem(record_id, what, device, item, owners, keys)
            if problem:
                return problem
    for client in writers:  # a notes lane writes note text only
        if client % 2 and any(
            new(s) and not state.parent(s)[0].startswith("note:")
            for s in state.structs[client]
            if s.root is not None or s.origin is not None or s.right is not None
        ):
            return f"client {client} of {owners[client]} writes outside the notes"
    for client in writers:
        owner = owners[client]
        if client % 2 == 0:
            top = state.top(client)
            if top.origin is None and top.root is None and top.right is None:
                return f"client {client} of {owner} ends in a run with no parent"
            if state.parent(top) != ("slots", owner):
                return f"client {client} of {owner} ends in something that is not its slot"
    creator = meta.get("creator")
    for key in INIT_KEYS:
        init = meta.get(key)
        if init is None or not new(init):
            continue
        if creator is None or owners.get(init.client) != creator.value:
            return "the record's creation was not written by its creator"
    return None


def _claim_problem(client: int, writer: int, value: object, keys: Keys) -> str | None:
    if writer != client & ~1:  # a client claims itself; its slot lane claims its notes lane
        return f"the claim of client {client} was written by client {writer}"
    good = getattr(keys, "good_claims", None)  # a claim is the same in all a store's records
    if good is not None and (client, value) in good:
        return None
    problem = _check_claim(client, value, keys)
    if problem is None and good is not None:
        good.add((client, value))
    return problem


def _check_claim(client: int, value: object, keys: Keys) -> str | None:
    parts = value.split(SEP) if isinstance(value, str) else []
    if len(parts) != 3:
        return f"the claim of client {client} is not signed"
    device, role, signature = parts
    known = keys.role(device)
    if known is None:
        return f"client {client} is claimed by {device!r}, which the registry does not know"
    if role != known:
        return f"{device} claims the role {role}; the registry says {known}"
    if not keys.verify(device, claim_message(client, device), _unbase64(signature)):
        return f"the claim of client {client} by {device} is not signed by {device}"
    return None


def _slot_problem(
    record_id: str, what: str, device: str, item: Struct, owners: dict[int, str], keys: Keys
) -> str | None:
    client, clock, value = item.client, item.clock, item.value
    if owners.get(client) != device:
        return f"the slot of {device} was written by client {client}, not one of {device}'s"
    body, _, signature = value.partition(SIG) if isinstance(value, str) else ("", "", "")
    if not signature:
        return f"the slot of {device} is not signed"
    message = slot_message(record_id, device, client, clock, body, what)
    if not keys.verify(device, message, _unbase64(signature)):
        return f"the slot of {device} is not signed by {device} for this place"
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"the slot of {device} is not JSON"
    role = decoded.get("r") if isinstance(decoded, dict) else None
    if role != keys.role(device):
        return f"{device} writes as {role}; the registry says {keys.role(device)}"
    return _episode_roles(device, decoded, keys)


def _episode_roles(device: str, slot: dict[str, object], keys: Keys) -> str | None:
    """The conflicts a slot closed name the roles the registry gives their devices."""
    fields = slot.get("f")
    if not isinstance(fields, dict):
        return None  # the record's own check reports it
    for entry in fields.values():
        closed = entry[4] if isinstance(entry, list) and len(entry) == 5 else []
        for episode in closed if isinstance(closed, list) else []:
            if not isinstance(episode, dict):
                return f"{device} records a conflict that is not one"
            by = episode.get("by")
            if by is not None and by != device:
                return f"{device} records a conflict that {by} resolved"
            versions = episode.get("vs", [])
            for version in [*versions, episode.get("w")] if isinstance(versions, list) else []:
                if isinstance(version, list) and len(version) == 4:
                    other, role = version[0], version[1]
                    if keys.role(str(other)) not in (None, role):
                        return f"{device} records a conflict that gives {other} the role {role}"
    return None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"a claim of client {text!r}") from None


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
