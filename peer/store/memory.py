"""A store in memory: for tests, and the contract the SQLite store must meet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from roamsync.peer.store.base import IndexEntry, RecordRow, Rejection
from roamsync.schema import UsageError


@dataclass
class MemoryStore:
    """A store in memory: for tests, and the contract the SQLite store must meet."""

    rows: dict[str, tuple[int, RecordRow]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    seq: int = 0
    # id -> (module, key, seq): the feed place when it was listed, as SQLite's listing
    listing: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # queued for the index and the listing

    def save(
        self,
        rows: Iterable[RecordRow],
        meta: Mapping[str, str] = {},
        *,
        durable: bool = True,
        index_later: bool = False,
    ) -> None:
        staged = list(rows)
        for row in staged:
            self.seq += 1
            self.rows[row.id] = (self.seq, row)
        self.metadata.update(meta)
        if index_later:
            self.pending.update(row.id for row in staged)
        else:
            self.index((row.id, row.module, row.text, row.key) for row in staged)

    def _row(self, record_id: str) -> RecordRow | None:
        found = self.rows.get(record_id)
        return None if found is None else found[1]

    def state(self, record_id: str) -> bytes | None:
        row = self._row(record_id)
        return None if row is None else row.state

    def states(self, record_ids: Iterable[str]) -> dict[str, bytes]:
        return {i: r.state for i in record_ids if (r := self._row(i)) is not None}

    def view(self, record_id: str) -> bytes | None:
        row = self._row(record_id)
        return None if row is None else row.view

    def _live(self, module: str) -> list[RecordRow]:
        rows = (r for _, r in self.rows.values() if r.module == module and not r.deleted)
        return sorted(rows, key=lambda r: r.id)

    needs_index = False

    def search(self, module: str, words: Sequence[str], limit: int, offset: int = 0) -> list[bytes]:
        lowered = [w.lower() for w in words]
        found = [
            r.view
            for r in self._live(module)
            if words and all(any(t.startswith(w) for t in r.text.lower().split()) for w in lowered)
        ]
        return found[max(offset, 0) : max(offset, 0) + max(limit, 0)]

    def count_listed(self, module: str) -> int:
        return sum(1 for mod, _, _ in self.listing.values() if mod == module)

    def pending_index(self, limit: int) -> list[tuple[str, str, bytes]]:
        found = [(i, r.module, r.view) for i in self.pending if (r := self._row(i)) is not None]
        return sorted(found)[:limit]

    def index(self, entries: Iterable[IndexEntry]) -> None:
        for record_id, _, text, key in entries:
            self.pending.discard(record_id)
            if record_id not in self.rows:
                continue
            seq, row = self.rows[record_id]
            self.rows[record_id] = (seq, row._replace(text=text, key=key))
            if key is None:
                self.listing.pop(record_id, None)
            else:
                self.listing[record_id] = (row.module, key, seq)

    def rebuild_index(self, entries: Iterable[IndexEntry]) -> None:
        self.listing.clear()
        self.pending.clear()
        self.index(entries)

    def page(
        self, module: str, offset: int, limit: int, order: str = "key", descending: bool = False
    ) -> list[bytes]:
        if order not in ("key", "changed"):
            raise UsageError(f"a list is ordered by key or changed, not {order!r}")
        found = [
            (seq, key, self.rows[i][1])
            for i, (mod, key, seq) in self.listing.items()
            if mod == module and not self.rows[i][1].deleted
        ]
        found.sort(key=lambda f: (f[1], f[2].id) if order == "key" else (f[0],), reverse=descending)
        start = max(offset, 0)
        return [row.view for _, _, row in found[start : start + max(limit, 0)]]

    def listed(self, module: str, keys: Sequence[str]) -> list[bytes]:
        wanted = set(keys)
        found = sorted(
            (key, i)
            for i, (mod, key, _) in self.listing.items()
            if mod == module and key in wanted and not self.rows[i][1].deleted
        )
        return [self.rows[i][1].view for _, i in found]

    def views(self, module: str) -> list[bytes]:
        return [r.view for r in self._live(module)]

    def find_number(self, module: str, number: str, deleted: bool = False) -> list[bytes]:
        rows = [r for _, r in self.rows.values() if r.module == module] if deleted else None
        return [
            r.view
            for r in (rows if rows is not None else self._live(module))
            if number in (r.number, r.provisional)
        ]

    def numbers(self, module: str) -> list[str]:
        return [
            str(n)
            for _, r in self.rows.values()
            if r.module == module
            for n in (r.number, r.provisional)
            if n is not None
        ]

    def count(self, module: str) -> int:
        return len(self._live(module))

    def changes(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        found = sorted((s, r.id, r.state) for s, r in self.rows.values() if s > after)
        return found[:limit]

    def changed(self, after: int, limit: int) -> list[tuple[int, str, str]]:
        return sorted((s, r.id, r.module) for s, r in self.rows.values() if s > after)[:limit]

    def feed(self, after: int, limit: int, peer: str) -> tuple[list[tuple[int, str, bytes]], int]:
        rows = sorted((s, r) for s, r in self.rows.values() if s > after and r.origin != peer)
        items = [(s, r.id, r.state) for s, r in rows[:limit]]
        upto = items[-1][0] if len(items) == limit else self.seq
        return items, max(upto, after)

    def system_changes(
        self, after: int, peer: str, modules: Sequence[str]
    ) -> list[tuple[int, str, bytes]]:
        rows = sorted(
            (s, r)
            for s, r in self.rows.values()
            if s > after and r.origin != peer and r.module in modules
        )
        return [(s, r.id, r.state) for s, r in rows]

    def count_feed(self, after: int, peer: str) -> int:
        return sum(1 for s, r in self.rows.values() if s > after and r.origin != peer)

    def forget_origin(self, peer: str) -> None:
        for record_id, (seq, row) in list(self.rows.items()):
            if row.origin == peer:
                self.rows[record_id] = (seq, row._replace(origin=None))

    def last_seq(self) -> int:
        return self.seq

    def unnumbered(self) -> list[str]:
        return [r.id for _, r in self.rows.values() if r.needs_number]

    def conflicts(self) -> list[tuple[str, str, bytes]]:
        found = [(t, r.id, r.module, ep) for _, r in self.rows.values() for t, ep in r.conflicts]
        return [(i, m, ep) for _, i, m, ep in sorted(found)]

    def reject(self, rejection: Rejection) -> None:
        self.rejected.append(rejection)

    def rejections(self) -> list[Rejection]:
        return sorted(self.rejected, key=lambda r: r.time)

    def meta(self, key: str) -> str | None:
        return self.metadata.get(key)

    def meta_prefix(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in sorted(self.metadata.items()) if k.startswith(prefix)}

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.metadata.pop(key, None)

    def close(self) -> None:
        pass
