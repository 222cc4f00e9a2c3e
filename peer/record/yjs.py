"""A structural check of a Yjs (v1) update, run before pycrdt applies it.

Some malformed updates corrupt yrs's memory: applying one, then reading the
document, kills the process (SIGSEGV or abort; found by fuzzing, pycrdt
0.14.13). The one found lists the same Yjs client twice, with different items
under the same ids (two updates glued together). Yjs and yrs write each client
once; a roamsync record also has root types only (``record/doc.py``), so its
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
                only when the item has neither origin] content (info & 0x1F):
               DELETED (1): varuint length; STRING (4): varuint bytes, UTF-8, its
               length counted in UTF-16 units; ANY (8): varuint count, lib0 "any"*
    deletes  = varuint clients, {varuint client, varuint ranges, {varuint clock, varuint len}}

It runs on every record a peer receives (an initial sync brings 100k), so it is
written for CPython's speed (about 4 µs for a 600-byte record update, where a
reader object with a method a field took 15 µs): one function over local
variables, one-byte varuints read inline, the kinds as literals (a global costs
a lookup), lengths skipped by arithmetic. A read past the end is an
``IndexError``, turned into ``ValueError``; a skip past the end leaves ``pos``
beyond it, and ``pos`` only grows, so the next read refuses it (there is always
one: the delete set comes last). ``tests/yjs_reference.py`` keeps the plain
parser it replaced, and ``tests/unit/test_yjs.py`` and ``bench/yjs_equivalence.py``
check that the two agree, input for input.
"""

from __future__ import annotations

from struct import error as StructError
from struct import unpack_from

MAX_DEPTH = 32  # of nested plain values: a record's are flat
Fresh = tuple[dict[str, object], dict[str, object], dict[int, int]]  # meta, slots, state vector


def check_update(update: bytes) -> dict[int, int]:
    """How far the update reaches in each Yjs client's clock (its structs and the ranges
    it deletes); ``ValueError`` unless it is a Yjs v1 update with root parents only and
    no content but strings, plain values and deletions.

    >>> check_update(bytes([1, 1, 7, 0, 0x28, 1, 1, 0x61, 1, 0x6B, 1, 0x7D, 5, 0]))
    {7: 1}
    """
    try:
        return _read_update(update)
    except IndexError as exc:
        raise ValueError("truncated update") from exc


def _read_update(data: bytes) -> dict[int, int]:
    """:func:`check_update`'s parse, raising ``IndexError`` where it runs off the end.

    Longer than a function should be, for speed: a call per field cost more than the
    parse. ``b = data[pos]; pos += 1; if b >= 0x80: b, pos = _uint_slow(data, pos - 1)``
    is one varuint; the same three lines recur for every field.
    """
    pos = 0
    reach: dict[int, int] = {}
    clients = data[pos]
    pos += 1
    if clients >= 0x80:
        clients, pos = _uint_slow(data, pos - 1)
    for _ in range(clients):
        structs = data[pos]
        pos += 1
        if structs >= 0x80:
            structs, pos = _uint_slow(data, pos - 1)
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = _uint_slow(data, pos - 1)
        if client >= 2**53:  # yrs keeps 53 bits: 2**53 + 10 would be client 10 again
            raise ValueError(f"client id {client} has more than 53 bits")
        if client in reach:  # yrs mis-integrates the second run: it crashed on one
            raise ValueError(f"client {client} twice in one update")
        clock = data[pos]
        pos += 1
        if clock >= 0x80:
            clock, pos = _uint_slow(data, pos - 1)
        while structs:  # while, not for: measured faster than a range, here and below
            structs -= 1
            info = data[pos]
            pos += 1
            kind = info & 0x1F
            if kind == 0 or kind == 10:  # GC or Skip: its length alone
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = _uint_slow(data, pos - 1)
                clock += length
                continue
            if info & 0xC0:  # an origin, a right origin: ids (client, clock), not kept
                for _ in range(2 if (info & 0xC0) != 0xC0 else 4):
                    if data[pos] < 0x80:
                        pos += 1
                    else:
                        _, pos = _uint_slow(data, pos)
            else:
                if data[pos] == 1:
                    pos += 1
                else:  # 1 in more bytes than one, or not a root type
                    parent, pos = _uint_slow(data, pos)
                    if parent != 1:
                        raise ValueError("an item's parent is not a root type")
                size = data[pos]  # the root's name
                pos += 1
                if size >= 0x80:
                    size, pos = _uint_slow(data, pos - 1)
                pos += size
                if info & 0x20:  # the key in a map
                    size = data[pos]
                    pos += 1
                    if size >= 0x80:
                        size, pos = _uint_slow(data, pos - 1)
                    pos += size
            length = data[pos]  # ANY: values; STRING: bytes; DELETED: the length
            pos += 1
            if length >= 0x80:
                length, pos = _uint_slow(data, pos - 1)
            if kind == 8:  # ANY
                left = length
                while left:
                    left -= 1
                    if data[pos] == 119:  # a string, most values: skipped here, for speed
                        size = data[pos + 1]
                        pos += 2
                        if size >= 0x80:
                            size, pos = _uint_slow(data, pos - 1)
                        pos += size
                    else:
                        pos = _skip_any(data, pos, 0)
            elif kind == 4:  # STRING
                raw = data[pos : pos + length]
                pos += length
                length = len(raw) if raw.isascii() else _utf16_length(raw)
            elif kind != 1:  # nor DELETED
                raise ValueError(f"content of kind {kind} is not in a roamsync record")
            clock += length
        reach[client] = clock
    ranges_clients = data[pos]  # the delete set
    pos += 1
    if ranges_clients >= 0x80:
        ranges_clients, pos = _uint_slow(data, pos - 1)
    for _ in range(ranges_clients):
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = _uint_slow(data, pos - 1)
        if client >= 2**53:
            raise ValueError(f"client id {client} has more than 53 bits")
        ranges = data[pos]
        pos += 1
        if ranges >= 0x80:
            ranges, pos = _uint_slow(data, pos - 1)
        for _ in range(ranges):
            start = data[pos]
            pos += 1
            if start >= 0x80:
                start, pos = _uint_slow(data, pos - 1)
            length = data[pos]
            pos += 1
            if length >= 0x80:
                length, pos = _uint_slow(data, pos - 1)
            reach[client] = max(reach.get(client, 0), start + length)
    if pos != len(data):  # not beyond it: the delete set's last varuint was read
        raise ValueError(f"{len(data) - pos} bytes after the update")
    return reach


def _uint_slow(data: bytes, pos: int) -> tuple[int, int]:
    """The varuint at ``pos``, of any length up to 10 bytes, and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varuint too long")


def _utf16_length(raw: bytes) -> int:
    """Yjs counts a string's length in UTF-16 code units."""
    try:
        return len(raw.decode().encode("utf-16-le")) // 2
    except UnicodeDecodeError as exc:
        raise ValueError("a string that is not UTF-8") from exc


def _skip_any(data: bytes, pos: int, depth: int) -> int:
    """The position after the lib0 "any" value at ``pos`` (tag 127..116)."""
    if depth > MAX_DEPTH:
        raise ValueError("values nested too deep")
    tag = data[pos]
    pos += 1
    if tag == 127 or tag == 126 or tag == 121 or tag == 120:  # undefined, null, false, true
        return pos
    if tag == 119 or tag == 116 or tag == 125:  # string, bytes: a length; a signed varint
        size = data[pos]
        pos += 1
        if size >= 0x80:
            size, pos = _uint_slow(data, pos - 1)
        return pos if tag == 125 else pos + size
    if tag == 124:  # float32
        return pos + 4
    if tag == 123 or tag == 122:  # float64, bigint64
        return pos + 8
    if tag != 118 and tag != 117:
        raise ValueError(f"unknown value tag {tag}")
    count, pos = _uint_slow(data, pos)
    for _ in range(count):
        if tag == 118:  # a map: a key, then its value
            size, pos = _uint_slow(data, pos)
            pos += size
        pos = _skip_any(data, pos, depth + 1)
    return pos


Ids = dict[tuple[str, str], tuple[int, int]]  # (root, key) -> (client, clock) of its value


def read_fresh(update: bytes, ids: Ids | None = None) -> Fresh | None:
    """The ``meta`` and ``slots`` maps and the state vector that ``update`` gives an empty
    document, if it is the whole state of a record with no note text, written by one
    device: it only sets keys of those two root maps to strings and integers, each
    key by one client, each time after the last (what a device editing its own
    record writes), and deletes only what was set before. ``None`` for any other
    update (malformed ones included), which pycrdt reads after :func:`check_update`.

    Such an update means the same to every Yjs implementation: no two clients set
    one key, so no rule picks a winner; each item's origin is in the update, so
    nothing waits; and a key's value is simply its last item. Reading it here costs
    a third of what pycrdt takes. pycrdt writes an int as a float when one holds it
    exactly (else as a bigint64), and yrs writes whole floats below 2**63 as JSON
    integers: ints here too. ``tests/unit/test_yjs_fresh.py`` and
    ``bench/yjs_equivalence.py --fresh`` check all of it against pycrdt.

    >>> read_fresh(bytes([1, 1, 7, 0, 0x28, 1, 5]) + b"slots" + bytes([1]) + b"d"
    ...            + bytes([1, 119, 2]) + b"{}" + bytes([0]))
    ({}, {'d': '{}'}, {7: 1})

    ``ids``, if given, is filled with the Yjs id of each live value (signed writes
    bind it), and ``("", "deleted")`` if the update deletes anything.
    """
    try:
        return _read_fresh(update, ids)
    except (IndexError, StructError, ValueError):  # truncated, a bad varuint, not UTF-8
        return None


def _read_fresh(data: bytes, ids: Ids | None = None) -> Fresh | None:
    """:func:`read_fresh`'s parse, written for speed as :func:`_read_update` is.

    A key's items form a chain within one client: the first names the root and the
    key; each next one has the one before as its origin (and nothing to its right),
    so it follows it and ends it. The key's value is the chain's last item (its
    earlier ones are deleted as it comes), or none if that one is deleted.
    """
    meta: dict[str, object] = {}
    slots: dict[str, object] = {}
    state: dict[int, int] = {}
    deleted: dict[int, list[tuple[int, int]]] = {}  # client -> its deleted runs
    began_meta: set[str] = set()  # keys whose chain began (a second would be concurrent)
    began_slots: set[str] = set()
    pos = 0
    clients = data[pos]
    pos += 1
    if clients >= 0x80:
        clients, pos = _uint_slow(data, pos - 1)
    for _ in range(clients):
        structs = data[pos]
        pos += 1
        if structs >= 0x80:
            structs, pos = _uint_slow(data, pos - 1)
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = _uint_slow(data, pos - 1)
        if client in state or not structs or data[pos] != 0:  # each client once, from 0
            return None
        if client >= 2**53:  # yrs keeps 53 bits of a client id (as Yjs's numbers do)
            return None
        pos += 1
        clock = 0
        runs: list[tuple[int, int]] = []
        ends_meta: dict[int, str] = {}  # the last clock of a chain of this client's -> its key
        ends_slots: dict[int, str] = {}
        while structs:
            structs -= 1
            info = data[pos]
            pos += 1
            if info == 0xA8 or info == 0xA1:  # a value or a deleted run, after its origin
                origin = data[pos]
                pos += 1
                if origin >= 0x80:
                    origin, pos = _uint_slow(data, pos - 1)
                if origin != client:
                    return None
                origin = data[pos]
                pos += 1
                if origin >= 0x80:
                    origin, pos = _uint_slow(data, pos - 1)
                # only a chain's end: an origin inside one would need a rule to pick
                if origin in ends_meta:
                    into, ends, key = meta, ends_meta, ends_meta.pop(origin)
                elif origin in ends_slots:
                    into, ends, key = slots, ends_slots, ends_slots.pop(origin)
                else:
                    return None
            elif (info == 0x28 or info == 0x21) and data[pos] == 1:  # a key of a root map
                size = data[pos + 1]
                pos += 2
                if size >= 0x80:
                    size, pos = _uint_slow(data, pos - 1)
                name = data[pos : pos + size]
                pos += size
                if name == b"slots":
                    into, ends, began = slots, ends_slots, began_slots
                elif name == b"meta":
                    into, ends, began = meta, ends_meta, began_meta
                else:
                    return None
                size = data[pos]
                pos += 1
                if size >= 0x80:
                    size, pos = _uint_slow(data, pos - 1)
                key = data[pos : pos + size].decode()
                pos += size
                if key in began:  # two chains for a key: a rule would pick one
                    return None
                began.add(key)
            else:
                return None
            if info & 0x1F == 1:  # deleted content: its length
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = _uint_slow(data, pos - 1)
                if not length or clock + length >= 2**31:  # yrs's clocks have 32 bits
                    return None
                into.pop(key, None)
                runs.append((clock, clock + length))
                if ids is not None:
                    ids["", "deleted"] = (client, clock)
            else:
                if data[pos] != 1:  # one value
                    return None
                tag = data[pos + 1]
                pos += 2
                value: object
                if tag == 119:  # a string
                    size = data[pos]
                    pos += 1
                    if size >= 0x80:
                        size, pos = _uint_slow(data, pos - 1)
                    value = data[pos : pos + size].decode()
                    pos += size
                elif tag == 123 or tag == 124:  # float64, float32: whole numbers only
                    number = unpack_from(">d" if tag == 123 else ">f", data, pos)[0]
                    pos += 8 if tag == 123 else 4
                    if not (number.is_integer() and -(2**63) < number < 2**63):
                        return None
                    value = int(number)
                elif tag == 122:  # bigint64: pycrdt's form of an int that no float holds
                    value = int.from_bytes(data[pos : pos + 8], "big", signed=True)
                    pos += 8
                else:
                    return None
                into[key] = value
                length = 1
                if ids is not None:
                    ids["slots" if into is slots else "meta", key] = (client, clock)
            clock += length
            ends[clock - 1] = key
        state[client] = clock
        deleted[client] = runs
    if not _deletes_only_deleted(data, pos, deleted) or len(slots) != 1:  # one writer
        return None
    return meta, slots, state


def _deletes_only_deleted(data: bytes, pos: int, deleted: dict[int, list[tuple[int, int]]]) -> bool:
    """Whether the delete set at ``pos`` ends the update and names only deleted runs."""
    clients = data[pos]
    pos += 1
    if clients >= 0x80:
        clients, pos = _uint_slow(data, pos - 1)
    for _ in range(clients):
        client = data[pos]
        pos += 1
        if client >= 0x80:
            client, pos = _uint_slow(data, pos - 1)
        runs = deleted.get(client, [])
        ranges = data[pos]
        pos += 1
        if ranges >= 0x80:
            ranges, pos = _uint_slow(data, pos - 1)
        for _ in range(ranges):
            start, pos = _uint_slow(data, pos)
            length, pos = _uint_slow(data, pos)
            if not _covered(runs, start, start + length):
                return False
    return pos == len(data)


def _covered(runs: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether runs (in clock order) cover ``start..end`` with no gap."""
    for run_start, run_end in runs:
        if run_start <= start < run_end:
            start = run_end
        if start >= end:
            return True
    return start >= end
