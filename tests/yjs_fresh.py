"""Updates shaped like a record as created, or with keys set again in place, to check
``peer/record/yjs.py``'s :func:`read_fresh` against pycrdt (``tests/unit/test_yjs_fresh.py``,
``bench/yjs_equivalence.py --fresh``).

Most are what ``read_fresh`` accepts (one or more clients setting keys of the
``meta`` and ``slots`` maps to strings and integers, a key set again with the
item before as origin, the earlier ones deleted runs in the delete set); each
part is now and then what it must refuse: a key with two chains, an origin that
is not a chain's end or is another client's, a right origin, a clock not from 0,
another root, a value it does not read (a fraction, an infinity, 2**63, a
list), text that is not UTF-8, two slots, a deleted range that was a value,
bytes left over.
"""

from __future__ import annotations

import random
import struct

import orjson
from pycrdt._pycrdt import Doc as RawDoc

from roamsync.peer.record import decode_state_vector
from roamsync.peer.record.yjs import Fresh, check_update

from fuzzing import varuint
from yjs_updates import BAD_UTF8, TEXT

FLOATS: tuple[float, ...]
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


def _content(rng: random.Random, dead: bool) -> tuple[bytes, int]:
    """A value (ANY) or a deleted run (DELETED), and its length in clock ticks."""
    if dead:
        length = (
            rng.choice((1, 1, 2, 3)) if rng.random() < 0.98 else rng.choice((0, 2**31, 2**32 + 5))
        )
        return varuint(length), length
    count = 1 if rng.random() < 0.99 else rng.choice((0, 2))
    return varuint(count) + b"".join(_value(rng) for _ in range(count)), count


def _chain(
    rng: random.Random, client: int, clock: int, root: str, key: str
) -> tuple[bytes, int, int, list[tuple[int, int]]]:
    """A key set one or more times by one client: each item after the first has the one
    before as its origin; the earlier ones mostly deleted runs (as Yjs leaves them).
    The items, how many, the clock after them and the deleted runs; now and then not so."""
    raw = key.encode() if rng.random() < 0.995 else BAD_UTF8[0]
    links = 1 if rng.random() < 0.5 else rng.randint(2, 4)
    out, runs = bytearray(), []
    for link in range(links):
        dead = rng.random() < (0.85 if link < links - 1 else 0.1)
        content, length = _content(rng, dead)
        if link == 0:
            info = 0x21 if dead else 0x28
            if rng.random() < 0.01:
                info = rng.choice((0x08, 0xA8, 0x24, 0x68))
            head = bytes([info, 1]) + varuint(len(root)) + root.encode()
            head += varuint(len(raw)) + raw
        else:
            info = 0xA1 if dead else 0xA8
            if rng.random() < 0.01:
                info = rng.choice((0xE8, 0x88, 0xA4))
            origin = clock - 1 + (rng.choice((-1, 1)) if rng.random() < 0.02 else 0)
            who = client if rng.random() < 0.99 else client + 1
            head = bytes([info]) + varuint(who) + varuint(max(origin, 0))
        out += head + content
        if dead:
            runs.append((clock, length))
        clock += length
    return bytes(out), links, clock, runs


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


def _delete_set(rng: random.Random, deleted: list[tuple[int, list[tuple[int, int]]]]) -> bytes:
    """The deleted runs, mostly; now and then one left out, or a range that is not one."""
    out = bytearray()
    chosen = [(c, [r for r in runs if rng.random() < 0.97]) for c, runs in deleted]
    chosen = [(c, runs) for c, runs in chosen if runs or rng.random() < 0.02]
    if rng.random() < 0.03 and deleted:
        chosen.append((deleted[0][0], [(rng.randrange(6), rng.randint(1, 3))]))
    out += varuint(len(chosen))
    for client, runs in chosen:
        out += varuint(client) + varuint(len(runs))
        for start, length in runs:
            out += varuint(start) + varuint(length)
    return bytes(out)


def fresh_update(rng: random.Random) -> bytes:
    """One update of a record as created or with keys set again in place, or nearly."""
    entries = _entries(rng)
    clients = [53900068, 300, 7, 2**32 + 1][: rng.choice((1, 1, 2, 3))]
    if rng.random() < 0.02:
        clients[0] = rng.choice((2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64 - 1))
    if rng.random() < 0.02:
        clients.append(clients[0])
    out = bytearray(varuint(len(clients)))
    deleted = []
    for n, client in enumerate(clients):
        start = clock = 0 if rng.random() < 0.98 else 1
        items, runs, structs = bytearray(), [], 0
        for root, key in entries[n :: len(clients)]:
            chain, links, clock, chain_runs = _chain(rng, client, clock, root, key)
            items += chain
            structs += links
            runs += chain_runs
        out += varuint(structs) + varuint(client) + varuint(start) + items
        deleted.append((client, runs))
    out += _delete_set(rng, deleted)
    if rng.random() < 0.01:
        out += b"\x00"
    return bytes(out)


def accepted_by_check_update(update: bytes) -> bool:
    try:
        check_update(update)
    except ValueError:
        return False
    return True
