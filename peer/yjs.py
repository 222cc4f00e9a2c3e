"""A structural check of a Yjs (v1) update, run before pycrdt applies it.

Some malformed updates corrupt yrs's memory: applying one, then reading the
document, kills the process (SIGSEGV or abort; found by fuzzing, pycrdt
0.14.13). The one found lists the same Yjs client twice, with different items
under the same ids (two updates glued together). Yjs and yrs write each client
once; a roamsync record also has root types only (``record.py``), so its
updates never name a parent by an item's id, and hold only strings, plain
values and deletions. :func:`check_update` reads the update's structure (not
its meaning) and refuses anything else, so yrs only ever sees updates of the
shape roamsync writes.

The format (lib0 encoding, as in Yjs's ``encoding.js`` and yrs's ``update.rs``)::

    update   = varuint clients, {varuint structs, varuint client, varuint clock, struct*},
               delete set                                   (each client once)
    struct   = info byte; GC (0) or Skip (10): varuint length; otherwise an item:
               [origin id if info & 0x80] [right origin id if info & 0x40]
               [parent: varuint 1 + root name, or 0 + id; then key if info & 0x20,
                only when the item has neither origin] content (info & 0x1F)
    deletes  = varuint clients, {varuint client, varuint ranges, {varuint clock, varuint len}}
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
        if client in reach:  # yrs mis-integrates the second run: it crashed on one
            raise ValueError(f"client {client} twice in one update")
        clock = reader.uint()
        for _ in range(structs):
            clock += _struct(reader)
        reach[client] = clock
    for _ in range(reader.uint()):  # the delete set
        client = reader.uint()
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
