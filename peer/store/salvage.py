"""Read record rows out of a damaged SQLite store, page by page, without SQLite.

SQLite stops at the first damaged page it meets on its way down a b-tree, and
refuses a file whose header is gone. This reader does not walk the tree: it
looks at every page image there is, in the database file and in its
write-ahead log (``-wal``), takes each one that parses as a table leaf page
(format: https://www.sqlite.org/fileformat2.html), and decodes its cells. A
row of the ``records`` table has ten columns with the state and the view as
blobs; a ``meta`` row has two text columns.

So every row on a page that is still intact is found, wherever the damage
is, and often several versions of a row (an older page image in the file, a
newer one in the log, a freed page). That is safe for records: a record's
state is a CRDT document, and merging an older version into a newer one
changes nothing, so :mod:`roamsync.peer.replica.repair` merges every version found.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)
WAL_HEADER = 32
FRAME_HEADER = 24
LEAF_TABLE = 0x0D
DEFAULT_PAGE_SIZE = 4096  # what roamsync's stores use; the guess when both headers are gone
RECORD_COLUMNS = 10  # id, module, seq, deleted, needs_number, number, provisional, state, ...
STATE, VIEW = 7, 8
MAX_OVERFLOW_PAGES = 1 << 16
INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}

Value = None | int | float | bytes | str


@dataclass
class Salvage:
    """What could be read: every version of every record row, and meta rows."""

    records: dict[str, list[bytes]] = field(default_factory=dict)  # id -> state versions
    meta: dict[str, list[str]] = field(default_factory=dict)  # key -> values seen
    pages: int = 0  # page images looked at (file and log)
    leaves: int = 0  # of them, table leaf pages that parsed


def salvage_file(path: Path) -> Salvage:
    """Every record and meta row readable from the store at ``path`` and its ``-wal``."""
    db = _read(path)
    wal = _read(path.with_name(path.name + "-wal"))
    page_size = _page_size(db, wal)
    usable = page_size - (db[20] if db[:16] == MAGIC else 0)
    images = list(_file_pages(db, page_size)) + list(_wal_pages(wal, page_size))
    latest = dict(images)  # for overflow chains: the last image of each page number
    found = Salvage(pages=len(images))
    for number, image in images:
        rows = _leaf_rows(image, 100 if number == 1 else 0, usable, latest)
        if rows is None:
            continue
        found.leaves += 1
        for values in rows:
            _keep(found, values)
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return b""


def _page_size(db: bytes, wal: bytes) -> int:
    """From the file's header, else the log's, else roamsync's default."""
    if db[:16] == MAGIC:
        size = int.from_bytes(db[16:18], "big")
        size = 65536 if size == 1 else size
        if _valid_size(size):
            return size
    if len(wal) >= WAL_HEADER and int.from_bytes(wal[:4], "big") in WAL_MAGICS:
        size = int.from_bytes(wal[8:12], "big")
        if _valid_size(size):
            return size
    return DEFAULT_PAGE_SIZE


def _valid_size(size: int) -> bool:
    return 512 <= size <= 65536 and size & (size - 1) == 0


def _file_pages(db: bytes, size: int) -> Iterator[tuple[int, memoryview]]:
    view = memoryview(db)
    for n, offset in enumerate(range(0, len(db) - size + 1, size)):
        yield n + 1, view[offset : offset + size]


def _wal_pages(wal: bytes, size: int) -> Iterator[tuple[int, memoryview]]:
    """Every frame of the log, committed or not: a torn last frame fails to parse later."""
    view = memoryview(wal)
    for offset in range(WAL_HEADER, len(wal) - FRAME_HEADER - size + 1, FRAME_HEADER + size):
        number = int.from_bytes(view[offset : offset + 4], "big")
        if number > 0:
            yield number, view[offset + FRAME_HEADER : offset + FRAME_HEADER + size]


def _keep(found: Salvage, values: list[Value]) -> None:
    if len(values) == RECORD_COLUMNS:
        record_id, state, view = values[0], values[STATE], values[VIEW]
        if isinstance(record_id, str) and isinstance(state, bytes) and isinstance(view, bytes):
            versions = found.records.setdefault(record_id, [])
            if state not in versions:
                versions.append(state)
    elif len(values) == 2 and all(isinstance(v, str) for v in values):
        key, value = str(values[0]), str(values[1])
        found.meta.setdefault(key, []).append(value)


def _leaf_rows(
    page: memoryview, header: int, usable: int, pages: dict[int, memoryview]
) -> list[list[Value]] | None:
    """The decoded cells of a table leaf page; None if it is not one. A cell that
    does not decode (a torn or overwritten part of the page) is skipped."""
    if len(page) < header + 8 or page[header] != LEAF_TABLE:
        return None
    count = int.from_bytes(page[header + 3 : header + 5], "big")
    if header + 8 + 2 * count > len(page):
        return None
    rows = []
    for i in range(count):
        at = header + 8 + 2 * i
        pointer = int.from_bytes(page[at : at + 2], "big")
        try:
            rows.append(_record(_payload(page, pointer, usable, pages)))
        except (IndexError, ValueError, UnicodeDecodeError):
            continue
    return rows


def _payload(page: memoryview, at: int, usable: int, pages: dict[int, memoryview]) -> bytes:
    """A cell's payload, following its overflow chain if it spills."""
    size, at = _varint(page, at)
    _, at = _varint(page, at)  # the rowid
    most = usable - 35
    if size <= most:
        return _take(page, at, size)
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    local = local if local <= most else least
    data = bytearray(_take(page, at, local))
    following = int.from_bytes(_take(page, at + local, 4), "big")
    for _ in range(MAX_OVERFLOW_PAGES):
        if len(data) >= size:
            return bytes(data[:size])
        overflow = pages.get(following)
        if overflow is None:
            raise ValueError(f"overflow page {following} is missing")
        following = int.from_bytes(overflow[:4], "big")
        data += overflow[4:usable]
    raise ValueError("overflow chain too long")


def _take(page: memoryview, at: int, n: int) -> bytes:
    if at < 0 or at + n > len(page):
        raise IndexError("past the end of the page")
    return bytes(page[at : at + n])


def _varint(data: memoryview | bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def _record(payload: bytes) -> list[Value]:
    """Decode a record (header of serial types, then the values)."""
    header_size, at = _varint(payload, 0)
    if not 0 < header_size <= len(payload):
        raise ValueError("bad record header")
    types = []
    while at < header_size:
        kind, at = _varint(payload, at)
        types.append(kind)
    values: list[Value] = []
    body = header_size
    for kind in types:
        value, body = _value(payload, body, kind)
        values.append(value)
    if body != len(payload):
        raise ValueError("record length does not match its header")
    return values


def _value(payload: bytes, at: int, kind: int) -> tuple[Value, int]:
    if kind in (0, 8, 9):
        return (None, 0, 1)[(0, 8, 9).index(kind)], at
    if kind in INT_SIZES:
        n = INT_SIZES[kind]
        return int.from_bytes(_cut(payload, at, n), "big", signed=True), at + n
    if kind == 7:
        value: float = struct.unpack(">d", _cut(payload, at, 8))[0]
        return value, at + 8
    if kind >= 12:
        n = (kind - 12) // 2
        raw = _cut(payload, at, n)
        return (raw if kind % 2 == 0 else raw.decode()), at + n
    raise ValueError(f"reserved serial type {kind}")


def _cut(payload: bytes, at: int, n: int) -> bytes:
    if at + n > len(payload):
        raise ValueError("value past the end of the record")
    return payload[at : at + n]
