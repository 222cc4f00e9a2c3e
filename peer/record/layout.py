"""How a record's document is laid out, as JSON: slots, writes, conflict episodes.

Pure functions, no pycrdt: :mod:`roamsync.peer.record.doc` puts these strings
into the Yjs document and takes them out. Slots arrive in other devices'
updates, so every decoder here checks what it reads and raises ``ValueError``
for anything :func:`encode_slot` or :func:`encode_episode` would not make.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

import orjson

from roamsync.peer.core.acting import MAX_USER
from roamsync.peer.core.priority import Episode, Version, Write

SEP = "\x1f"  # between device, role and signature in a record's ``a:<client>`` entries
SIG = "\x1e"  # between a slot's JSON and its signature (JSON text never holds it raw)
NOTE_PREFIX = "note:"
MAX_TIME = 2**63  # hybrid-logical-clock times fit the store's 64-bit columns


def encode_slot(role: str, writes: Mapping[str, Write]) -> str:
    """A device's slot: its role and its latest write of each field."""
    fields: dict[str, list[Any]] = {}
    for name, w in writes.items():
        closed = [encode_episode(e) for e in w.closed]
        fields[name] = [w.value, w.t, dict(w.seen), w.policy, closed]
    body: dict[str, Any] = {"r": role, "f": fields}
    users = {name: w.user for name, w in writes.items() if w.user}
    if users:  # who wrote them through the web pages (older readers ignore the key)
        body["u"] = users
    return orjson.dumps(body).decode()


def decode_slot(device: str, raw: object) -> list[Write]:
    """The writes in a device's slot; ``ValueError`` unless it is what :func:`encode_slot` makes.

    Slots arrive in other devices' updates, so every part is checked here, where it
    enters: the priority layer and the views then only see well-formed writes.
    """
    body = orjson.loads(raw.partition(SIG)[0]) if isinstance(raw, str) else None
    if not isinstance(body, dict) or not isinstance(body.get("r"), str):
        raise ValueError(f"malformed slot of device {device!r}")
    fields = body.get("f")
    if not isinstance(fields, dict):
        raise ValueError(f"malformed slot of device {device!r}")
    users = body.get("u", {})
    if not (isinstance(users, dict) and all(_is_user(u) for u in users.values())):
        raise ValueError(f"malformed slot of device {device!r}")
    return [
        _decode_write(device, body["r"], name, entry, users.get(name))
        for name, entry in fields.items()
    ]


def _is_user(user: object) -> bool:
    return isinstance(user, str) and 0 < len(user) <= MAX_USER and user.isprintable()


def _decode_write(device: str, role: str, name: str, entry: object, user: str | None) -> Write:
    if not (isinstance(entry, list) and len(entry) == 5):
        raise ValueError(f"malformed write of {name!r} by {device!r}")
    value, t, seen, policy, closed = entry
    well_formed = (
        is_scalar(value)
        and is_time(t)
        and isinstance(seen, dict)
        and all(is_time(s) for s in seen.values())
        and (policy is None or isinstance(policy, str))
        and isinstance(closed, list)
    )
    if not well_formed:
        raise ValueError(f"malformed write of {name!r} by {device!r}")
    episodes = tuple(decode_episode(e) for e in closed)
    return Write(name, device, role, t, value, seen, policy, episodes, user)


SCALARS = frozenset({str, int, float, bool})  # the types a slot's JSON gives a plain value


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float)  # bool is an int


def is_time(t: object) -> TypeGuard[int]:
    """A hybrid-logical-clock time: an int that fits the store's 64-bit columns."""
    return type(t) is int and 0 <= t < MAX_TIME


def _encode_version(v: Version) -> list[Any]:
    return [v.device, v.role, v.t, v.value]


def _decode_version(raw: object) -> Version:
    if not (isinstance(raw, list) and len(raw) == 4):
        raise ValueError("malformed conflict version")
    device, role, t, value = raw
    if not (isinstance(device, str) and isinstance(role, str) and is_time(t) and is_scalar(value)):
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
    if not isinstance(field, str) or not isinstance(policy, str) or not is_time(time):
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
