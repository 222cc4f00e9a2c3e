"""Updates shaped like a record as created, to check ``peer/yjs.py``'s :func:`read_fresh`
against pycrdt (``tests/test_yjs_fresh.py``, ``bench/yjs_equivalence.py --fresh``).

Most are what ``read_fresh`` accepts (one or more clients setting keys of the
``meta`` and ``slots`` maps, each key once, to strings and integers); each part
is now and then what it must refuse: a key set twice, a clock not from 0, another
root, an origin, a value it does not read (a fraction, an infinity, 2**63, a
list), text that is not UTF-8, two slots, a deletion, bytes left over.
"""

from __future__ import annotations

import random
import struct

import orjson
from fuzzing import varuint
from pycrdt._pycrdt import Doc as RawDoc
from yjs_updates import BAD_UTF8, TEXT

from roamsync.peer.record import decode_state_vector
from roamsync.peer.yjs import Fresh, check_update

FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0**53, 2.0**53 + 2, 2.0**62, 2.0**63, -(2.0**63), 2.0**64)
FLOATS += (1e300, float("inf"), float("nan"), 5e-324, 117678669670973440.0, 3.4e38)


def pycrdt_reading(update: bytes) -> Fresh:
    """What pycrdt makes of ``update`` applied to an empty document (as ``RecordSnapshot``
    reads it when :func:`read_fresh` does not)."""
    doc = RawDoc(None, None, None)
    txn = doc.create_transaction()
    try:
        doc.apply_update(txn, update)
        roots = doc.roots(txn)
        maps = [
            orjson.loads(doc.get_or_insert_map(txn, name).to_json(txn)) if name in roots else {}
            for name in ("meta", "slots")
        ]
        state = decode_state_vector(doc.get_state(txn))
        txn.commit()
    finally:
        txn.drop()
    return maps[0], maps[1], state


def _text(rng: random.Random) -> bytes:
    raw = "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 3))).encode()
    if rng.random() < 0.03:
        raw += rng.choice(BAD_UTF8)
    return raw


def _value(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.6:
        raw = _text(rng)
        return bytes([119]) + varuint(len(raw)) + raw
    if roll < 0.75:
        number = float(rng.randrange(-(2**63), 2**63))
        return bytes([123]) + struct.pack(">d", number)
    if roll < 0.9:
        return bytes([122]) + rng.randrange(-(2**63), 2**63).to_bytes(8, "big", signed=True)
    if roll < 0.95:
        return bytes([124]) + struct.pack(">f", float(rng.randrange(-(2**24), 2**24)))
    if roll < 0.98:
        return bytes([123]) + struct.pack(">d", rng.choice(FLOATS))
    if roll < 0.99:
        return bytes([124]) + struct.pack(">f", rng.choice((0.25, -1.5, float("inf"), 3e38)))
    return bytes([rng.choice((125, 126, 127, 120, 121, 117, 118)), 0])


def _item(rng: random.Random, root: str, key: str) -> bytes:
    raw = key.encode() if rng.random() < 0.995 else BAD_UTF8[0]
    info = 0x28 if rng.random() < 0.99 else rng.choice((0x08, 0xA8, 0x24, 0x21))
    count = 1 if rng.random() < 0.99 else rng.choice((0, 2))
    body = bytes([info, 1]) + varuint(len(root)) + root.encode() + varuint(len(raw)) + raw
    return body + varuint(count) + b"".join(_value(rng) for _ in range(count))


def _entries(rng: random.Random) -> list[tuple[str, str]]:
    """(root, key) of the items: distinct meta keys and one slot, now and then not."""
    keys = [f"k{i}" for i in range(rng.randint(0, 8))]
    entries = [("meta", key) for key in keys]
    if rng.random() < 0.97:
        entries.append(("slots", "dev"))
    if rng.random() < 0.03:
        twice = entries or [("meta", "k")]  # a key set twice, or a root it does not read
        entries.append(rng.choice([("slots", "other"), ("note:x", "k"), *twice]))
    rng.shuffle(entries)
    return entries


def fresh_update(rng: random.Random) -> bytes:
    """One update of a record as created, or nearly."""
    entries = _entries(rng)
    clients = [53900068, 300, 7, 2**32 + 1][: rng.choice((1, 1, 2, 3))]
    if rng.random() < 0.02:
        clients[0] = rng.choice((2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64 - 1))
    if rng.random() < 0.02:
        clients.append(clients[0])
    out = bytearray(varuint(len(clients)))
    for n, client in enumerate(clients):
        mine = entries[n :: len(clients)]
        clock = 0 if rng.random() < 0.98 else 1
        out += varuint(len(mine)) + varuint(client) + varuint(clock)
        out += b"".join(_item(rng, root, key) for root, key in mine)
    out += b"\x00" if rng.random() < 0.98 else b"\x01" + varuint(clients[0]) + b"\x01\x00\x01"
    if rng.random() < 0.01:
        out += b"\x00"
    return bytes(out)


def accepted_by_check_update(update: bytes) -> bool:
    try:
        check_update(update)
    except ValueError:
        return False
    return True
