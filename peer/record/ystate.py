"""A record's whole Yjs state read item by item: who wrote which key, at which id.

pycrdt shows a document's values, not which Yjs item holds them. Verifying a
signed write needs both: the signature binds the item's id (client, clock),
so a signed value cannot be replayed at another place. :func:`read_state`
reads a Yjs v1 update (a record's whole state, as peers send them) into its
structs, and :class:`YState` answers what verification asks:

* :meth:`YState.parent` -- the root type and map key an item belongs to,
  following its origins (only the first item of a key's chain names them);
* :meth:`YState.live` -- per key of a root map, the one item not deleted;
* :meth:`YState.chain_ends_live` -- whether a key's last item is its live one;
* :meth:`YState.top` -- a client's last struct.

It reads only what :func:`~roamsync.peer.record.yjs.check_update` lets
through (root parents; deleted, string and plain-value contents): call that
first. Anything else is a ``ValueError``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from struct import unpack_from

from roamsync.peer.record.yjs import _skip_any, _uint_slow, _utf16_length, check_update

Id = tuple[int, int]  # (client, clock)


@dataclass(slots=True)
class Struct:
    """One item (or a GC/skip run) of the state."""

    client: int
    clock: int
    length: int
    deleted: bool  # its content is gone (ContentDeleted, GC), or the delete set names it
    origin: Id | None = None
    right: Id | None = None
    root: str | None = None  # the parent root type, when the item names it
    key: str | None = None  # the map key, when the item names it
    value: object = None  # a single plain value (a map entry), or a string's text

    @property
    def id(self) -> Id:
        return (self.client, self.clock)


@dataclass
class YState:
    structs: dict[int, list[Struct]] = field(default_factory=dict)  # per client, in clock order
    _starts: dict[int, list[int]] = field(default_factory=dict)
    _parents: dict[Id, tuple[str, str | None]] = field(default_factory=dict)
    _by_root: dict[str, list[Struct]] | None = None

    def find(self, item: Id) -> Struct:
        """The struct holding the clock ``item`` points at; ``ValueError`` if none."""
        client, clock = item
        structs = self.structs.get(client)
        if not structs:
            raise ValueError(f"no item of client {client}")
        starts = self._starts.setdefault(client, [s.clock for s in structs])
        index = bisect.bisect_right(starts, clock) - 1
        if index < 0 or clock >= structs[index].clock + structs[index].length:
            raise ValueError(f"no item {item}")
        return structs[index]

    def parent(self, s: Struct) -> tuple[str, str | None]:
        """(root name, map key or ``None``) of an item, following its origins."""
        path: list[Struct] = []
        found: tuple[str, str | None] | None = None
        seen: set[Id] = set()
        while found is None:
            cached = self._parents.get(s.id)
            if cached is not None:
                found = cached
                break
            if s.root is not None:
                found = (s.root, s.key)
                break
            if s.id in seen or len(path) > 1_000_000:
                raise ValueError("an item's origins go round in a circle")
            seen.add(s.id)
            path.append(s)
            link = s.origin if s.origin is not None else s.right
            if link is None:
                raise ValueError(f"item {s.id} has no parent")
            s = self.find(link)
        for item in path:
            self._parents[item.id] = found
        return found

    def items(self, root: str) -> list[Struct]:
        """Every item whose parent is the root type ``root``."""
        if self._by_root is None:
            self._by_root = {}
            for structs in self.structs.values():
                for s in structs:
                    if _is_item(s):
                        self._by_root.setdefault(self.parent(s)[0], []).append(s)
        return self._by_root.get(root, [])

    def live(self, root: str) -> dict[str, Struct]:
        """Key -> the one live item, of the root map ``root``; ``ValueError`` if a key has
        two (an encoder never writes that: Yjs deletes the losers of a concurrent set)."""
        out: dict[str, Struct] = {}
        for s in self.items(root):
            if s.deleted:
                continue
            key = self.parent(s)[1]
            if key is None:
                raise ValueError(f"an item of map {root!r} without a key")
            if key in out:
                raise ValueError(f"two live values of {root}[{key!r}]")
            out[key] = s
        return out

    def chain_ends_live(self, root: str, key: str) -> bool:
        """Whether the values set under ``root[key]`` form one line (each set after the
        one before: a key with a single writer) that ends in the live value; so nothing
        deleted the key's value without writing another."""
        chain = [s for s in self.items(root) if self.parent(s)[1] == key]
        if not chain:
            return True
        followed = {self.find(s.origin).id for s in chain if s.origin is not None}
        ends = [s for s in chain if s.id not in followed]
        return len(ends) == 1 and not ends[0].deleted

    def top(self, client: int) -> Struct:
        return self.structs[client][-1]


def _is_item(s: Struct) -> bool:
    return s.root is not None or s.origin is not None or s.right is not None


def read_state(update: bytes) -> YState:
    """The structs of a Yjs v1 update; ``ValueError`` if it is not one roamsync writes."""
    check_update(update)
    try:
        return _read(update)
    except IndexError as exc:
        raise ValueError("truncated update") from exc


def _uint(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    return _uint_slow(data, pos)


def _text(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = _uint(data, pos)
    return data[pos : pos + size].decode(), pos + size


def _read(data: bytes) -> YState:
    state = YState()
    clients, pos = _uint(data, 0)
    for _ in range(clients):
        count, pos = _uint(data, pos)
        client, pos = _uint(data, pos)
        clock, pos = _uint(data, pos)
        structs: list[Struct] = []
        for _ in range(count):
            s, pos = _read_struct(data, pos, client, clock)
            structs.append(s)
            clock += s.length
        state.structs[client] = structs
    ranges_clients, pos = _uint(data, pos)
    for _ in range(ranges_clients):
        client, pos = _uint(data, pos)
        ranges, pos = _uint(data, pos)
        for _ in range(ranges):
            start, pos = _uint(data, pos)
            length, pos = _uint(data, pos)
            for s in state.structs.get(client, []):
                if s.clock < start + length and start < s.clock + s.length:
                    s.deleted = True
    return state


def _read_struct(data: bytes, pos: int, client: int, clock: int) -> tuple[Struct, int]:
    info = data[pos]
    pos += 1
    kind = info & 0x1F
    if kind == 0 or kind == 10:  # GC or skip
        length, pos = _uint(data, pos)
        return Struct(client, clock, length, True), pos
    s = Struct(client, clock, 0, kind == 1)
    if info & 0x80:
        a, pos = _uint(data, pos)
        b, pos = _uint(data, pos)
        s.origin = (a, b)
    if info & 0x40:
        a, pos = _uint(data, pos)
        b, pos = _uint(data, pos)
        s.right = (a, b)
    if not info & 0xC0:
        _, pos = _uint(data, pos)  # 1: a root type (check_update refused the rest)
        s.root, pos = _text(data, pos)
        if info & 0x20:
            s.key, pos = _text(data, pos)
    if kind == 1:
        s.length, pos = _uint(data, pos)
    elif kind == 4:
        size, pos = _uint(data, pos)
        raw = data[pos : pos + size]
        pos += size
        s.value = raw.decode()
        s.length = len(raw) if raw.isascii() else _utf16_length(raw)
    else:  # 8: plain values
        s.length, pos = _uint(data, pos)
        if s.length == 1:
            s.value, pos = _any(data, pos)
        else:
            for _ in range(s.length):
                pos = _skip_any(data, pos, 0)
    return s, pos


def _any(data: bytes, pos: int) -> tuple[object, int]:
    """A lib0 value: strings and numbers as such, anything else as ``None`` (skipped)."""
    tag = data[pos]
    if tag == 119:
        return _text(data, pos + 1)
    if tag == 123:
        return unpack_from(">d", data, pos + 1)[0], pos + 9
    if tag == 124:
        return unpack_from(">f", data, pos + 1)[0], pos + 5
    if tag == 122:
        return int.from_bytes(data[pos + 1 : pos + 9], "big", signed=True), pos + 9
    return None, _skip_any(data, pos, 0)
