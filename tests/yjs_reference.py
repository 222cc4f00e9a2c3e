"""The reference :func:`check_update` that ``peer/record/yjs.py``'s fast parser is checked against.

A verbatim copy of ``peer/record/yjs.py`` as it was before it was rewritten for speed (commit
b7758c1; about 15 µs per record update): plain and slow, one small reader method per
lib0 field. ``tests/unit/test_yjs.py`` and ``bench/yjs_equivalence.py`` check that the fast
parser returns the same reach for every input, and raises ``ValueError`` exactly when
this one does. See ``peer/record/yjs.py`` for the format.
"""

from __future__ import annotations

GC, DELETED, STRING, ANY, SKIP = 0, 1, 4, 8, 10
ORIGIN, RIGHT_ORIGIN, PARENT_SUB = 0x80, 0x40, 0x20
MAX_DEPTH = 32  # of nested plain values: a record's are flat


def check_update(update: bytes) -> dict[int, int]:
    """How far the update reaches in each Yjs client's clock (its structs and the ranges
    it deletes); ``ValueError`` unless it is a Yjs v1 update with root parents only and
    no content but strings, plain values and deletions."""
    reader = _Reader(update)
    reach: dict[int, int] = {}
    for _ in range(reader.uint()):
        structs = reader.uint()
        client = reader.uint()
        if client >= 2**53:  # yrs keeps 53 bits: 2**53 + 10 would be client 10 again
            raise ValueError(f"client id {client} has more than 53 bits")
        if client in reach:  # yrs mis-integrates the second run: it crashed on one
            raise ValueError(f"client {client} twice in one update")
        clock = reader.uint()
        for _ in range(structs):
            clock += _struct(reader)
        reach[client] = clock
    for _ in range(reader.uint()):  # the delete set
        client = reader.uint()
        if client >= 2**53:
            raise ValueError(f"client id {client} has more than 53 bits")
        for _ in range(reader.uint()):
            end = reader.uint() + reader.uint()
            reach[client] = max(reach.get(client, 0), end)
    if reader.pos != len(reader.data):
        raise ValueError(f"{len(reader.data) - reader.pos} bytes after the update")
    return reach


def _struct(reader: _Reader) -> int:
    """Read one struct; its length in clock ticks."""
    info = reader.byte()
    kind = info & 0x1F
    if kind in (GC, SKIP):
        return reader.uint()
    for bit in (ORIGIN, RIGHT_ORIGIN):
        if info & bit:
            reader.uint()
            reader.uint()
    if not info & (ORIGIN | RIGHT_ORIGIN):
        if reader.uint() != 1:
            raise ValueError("an item's parent is not a root type")
        reader.string()  # the root's name
        if info & PARENT_SUB:
            reader.string()  # the key in a map
    if kind == DELETED:
        return reader.uint()
    if kind == STRING:
        return _utf16_length(reader.string())
    if kind == ANY:
        count = reader.uint()
        for _ in range(count):
            _any(reader, 0)
        return count
    raise ValueError(f"content of kind {kind} is not in a roamsync record")


def _utf16_length(raw: bytes) -> int:
    """Yjs counts a string's length in UTF-16 code units."""
    try:
        return len(raw.decode().encode("utf-16-le")) // 2
    except UnicodeDecodeError as exc:
        raise ValueError("a string that is not UTF-8") from exc


def _any(reader: _Reader, depth: int) -> None:
    """One lib0 "any" value: tag 127..116."""
    if depth > MAX_DEPTH:
        raise ValueError("values nested too deep")
    tag = reader.byte()
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return
    if tag == 125:  # signed varint
        reader.uint()
    elif tag in (124, 123, 122):  # float32, float64, bigint64
        reader.skip(4 if tag == 124 else 8)
    elif tag in (119, 116):  # string, bytes
        reader.skip(reader.uint())
    elif tag == 118:  # map
        for _ in range(reader.uint()):
            reader.string()
            _any(reader, depth + 1)
    elif tag == 117:  # array
        for _ in range(reader.uint()):
            _any(reader, depth + 1)
    else:
        raise ValueError(f"unknown value tag {tag}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated update")
        self.pos += 1
        return self.data[self.pos - 1]

    def uint(self) -> int:
        pos = self.pos
        if pos < len(self.data) and self.data[pos] < 0x80:  # most varuints are one byte
            self.pos = pos + 1
            return self.data[pos]
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("varuint too long")

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ValueError("truncated update")
        self.pos += n

    def string(self) -> bytes:
        n = self.uint()
        self.skip(n)
        return self.data[self.pos - n : self.pos]
