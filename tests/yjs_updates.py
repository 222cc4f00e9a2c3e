"""Yjs v1 updates built field by field from a ``random.Random``, to check
``peer/record/yjs.py`` against ``tests/yjs_reference.py`` (``tests/unit/test_yjs.py``,
``bench/yjs_equivalence.py``).

Mutated real updates (``tests/fuzzing.py``) mostly fail early; these reach every
branch of the parser: each field is usually well formed and sometimes not (a
varuint written overlong or too long, a content kind or value tag roamsync does
not write, a parent that is not a root, invalid UTF-8, values nested past
``MAX_DEPTH``, a client twice, bytes left over), so inputs both parsers accept
are as common as inputs both refuse.
"""

from __future__ import annotations

import random

from roamsync.peer.record.yjs import MAX_DEPTH

from fuzzing import varuint

NUMBERS = (0, 1, 2, 7, 0x7F, 0x80, 300, 0x3FFF, 0x4000, 2**32, 2**53, 2**63, 2**64 - 1)
TEXT = ("a", "roamsync", "ø", "æøå", "€", "😀", "\u0000", "\uffff", "x" * 200)
BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"a\x80")


def uint(rng: random.Random, n: int) -> bytes:
    """``n`` as a varuint; now and then overlong (up to 10 bytes) or too long (11, 12)."""
    out = varuint(n)
    if rng.random() < 0.02:
        pad = rng.randint(1, 12 - len(out))
        out = out[:-1] + bytes([out[-1] | 0x80]) + b"\x80" * (pad - 1) + b"\x00"
    return out


def number(rng: random.Random) -> int:
    return rng.choice(NUMBERS) if rng.random() < 0.3 else rng.randrange(200)


def string(rng: random.Random, raw: bytes) -> bytes:
    """A length-prefixed byte string; the length now and then off by one."""
    size = len(raw)
    if rng.random() < 0.02:
        size = max(size + rng.choice((-1, 1)), 0)
    return uint(rng, size) + raw


def text(rng: random.Random) -> bytes:
    raw = "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 4))).encode()
    if rng.random() < 0.05:
        at = rng.randint(0, len(raw))
        raw = raw[:at] + rng.choice(BAD_UTF8) + raw[at:]
    return raw


def any_value(rng: random.Random, depth: int = 0) -> bytes:
    """One lib0 "any" value, containers nested at most ``depth`` more levels."""
    tag = rng.choice((127, 126, 125, 124, 123, 122, 121, 120, 119, 119, 119, 118, 117, 116))
    if rng.random() < 0.01:
        tag = rng.randrange(256)
    head = bytes([tag])
    if tag == 125:
        return head + uint(rng, number(rng))
    if tag in (124, 123, 122):
        return head + rng.randbytes(4 if tag == 124 else 8)
    if tag in (119, 116):
        return head + string(rng, text(rng) if tag == 119 else rng.randbytes(rng.randint(0, 9)))
    if tag in (118, 117) and depth > 0:
        count = rng.randint(0, 3)
        out = head + uint(rng, count)
        for _ in range(count):
            if tag == 118:
                out += string(rng, text(rng))
            out += any_value(rng, depth - 1)
        return out
    return head if tag >= 120 else head + rng.randbytes(rng.randint(0, 9))


def nested(rng: random.Random, levels: int) -> bytes:
    """An "any" value with containers ``levels`` deep, around ``MAX_DEPTH``."""
    if levels == 0:
        return rng.choice((b"\x7e", b"\x76\x00", b"\x75\x00", b"\x77\x01z"))
    if rng.random() < 0.5:
        return b"\x75\x01" + nested(rng, levels - 1)  # an array of one
    return b"\x76\x01\x01k" + nested(rng, levels - 1)  # a map of one


def struct(rng: random.Random) -> bytes:
    kind = rng.choice((8, 8, 8, 8, 4, 4, 1, 0, 10))
    if rng.random() < 0.03:
        kind = rng.randrange(32)
    info = kind
    for bit, share in ((0x80, 0.15), (0x40, 0.15), (0x20, 0.5)):
        if rng.random() < share:
            info |= bit
    out = bytes([info])
    if kind in (0, 10):
        return out + uint(rng, number(rng))
    for bit in (0x80, 0x40):
        if info & bit:
            out += uint(rng, number(rng)) + uint(rng, number(rng))
    if not info & 0xC0:
        out += uint(rng, 1 if rng.random() < 0.95 else rng.choice((0, 2, 2**64)))
        out += string(rng, text(rng))
        if info & 0x20:
            out += string(rng, text(rng))
    if kind == 4:
        return out + string(rng, text(rng))
    if kind != 8:
        return out + uint(rng, number(rng))
    count = rng.choice((0, 1, 1, 1, 2, 3))
    values = [any_value(rng, depth=3) for _ in range(count)]
    if rng.random() < 0.05:
        values.append(nested(rng, rng.randint(MAX_DEPTH - 1, MAX_DEPTH + 2)))
        count += 1
    return out + uint(rng, count) + b"".join(values)


def yjs_update(rng: random.Random) -> bytes:
    """A Yjs v1 update, mostly of the shape roamsync writes, some of its fields wrong."""
    clients = [rng.choice((7, 1000, 2000, 2**32 + 5, 53900068)) for _ in range(rng.randint(0, 3))]
    if len(set(clients)) < len(clients) and rng.random() < 0.8:
        clients = list(dict.fromkeys(clients))  # a client twice: now and then, not mostly
    out = bytearray(uint(rng, len(clients)))
    for client in clients:
        structs = [struct(rng) for _ in range(rng.randint(0, 5))]
        out += uint(rng, len(structs)) + uint(rng, client) + uint(rng, number(rng))
        out += b"".join(structs)
    deletes = rng.randint(0, 2)
    out += uint(rng, deletes)
    for _ in range(deletes):
        ranges = rng.randint(0, 3)
        out += uint(rng, rng.choice([*clients, 9, 2**40])) + uint(rng, ranges)
        for _ in range(ranges):
            out += uint(rng, number(rng)) + uint(rng, number(rng))
    if rng.random() < 0.03:
        out += rng.randbytes(rng.randint(1, 3))  # bytes after the update
    return bytes(out)
