"""The search index and the listing of the SQLite store: what finds records and pages them.

``search`` is an FTS5 table (``unicode61`` words, accents removed) whose rowid is
the record's stable rowid in ``search_keys``. ``listing`` holds each live record's
list key (:mod:`roamsync.peer.replica.listing`) and its place in the change feed,
indexed by module and key and by module and feed place, so a page of a list is
one walk of an index (``LIMIT``/``OFFSET`` over the index alone) and then 50 rows;
``listing_counts`` keeps each module's count, so "of N" costs no scan.

Both are kept at the same points. A local write indexes its record in its own
commit; a merge only queues its records in ``search_pending`` (indexing costs
about 30 µs a record, too much for an initial sync of 100k), and the replica
indexes the queue before the next search or page, or when merges pause. So
neither ever lags what the replica holds when it is read. A store made before
either (its ``indexed`` entry says which) is indexed anew once, at open.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from roamsync.peer.store.base import IndexEntry
from roamsync.peer.store.meta import INDEXED
from roamsync.schema import UsageError

# What the index holds now; a store whose ``indexed`` entry differs (made before search,
# or before the listing) has its records indexed anew, once, when the replica opens it.
INDEX_VERSION = "search+listing-2"
INDEX_TABLES = ("search", "search_keys", "listing", "listing_counts")  # any missing: anew
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_keys (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS search_pending (id TEXT PRIMARY KEY);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
    text, module UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS listing (
    id TEXT PRIMARY KEY,
    module TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS listing_key ON listing (module, key, id);
CREATE INDEX IF NOT EXISTS listing_seq ON listing (module, seq);
CREATE TABLE IF NOT EXISTS listing_counts (module TEXT PRIMARY KEY, n INTEGER NOT NULL)
    WITHOUT ROWID;
"""
LOOKUP = 500  # ids per IN (...) lookup
_COUNT = (
    "INSERT INTO listing_counts VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET n = n + excluded.n"
)
_ORDERS = {"key": ("key", "id"), "changed": ("seq",)}  # list order -> listing columns


class SearchIndex:
    """The search and listing side of :class:`~.sqlite.SqliteStore` (a part of it, not
    used alone)."""

    needs_index: bool
    _rows: Callable[..., list[Any]]
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def _index_outdated(self, whole: bool) -> bool:
        """Whether the records are to be indexed anew (at open; ``whole``: the index's
        tables were all there). A new store's index is up to date from the start."""
        found = self._rows("SELECT value FROM meta WHERE key = ?", INDEXED)
        if whole and found and found[0][0] == INDEX_VERSION:
            return False
        if not self._rows("SELECT 1 FROM records LIMIT 1"):
            with self._transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (INDEXED, INDEX_VERSION))
            return False
        return True

    def rebuild_index(self, entries: Iterable[IndexEntry]) -> None:
        """Index every record anew from ``entries`` (one per live record), in one
        transaction: a store made before search or the listing, once."""
        with self._transaction() as db:
            db.execute("DROP TABLE IF EXISTS search")  # much faster than deleting its rows
            for trigger in ("listing_added", "listing_removed"):  # a first listing's counters
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            for table in ("listing", "listing_counts", "search_pending"):
                db.execute(f"DELETE FROM {table}")
            for statement in SCHEMA.split(";"):
                db.execute(statement)
            self._index(db, list(entries))
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (INDEXED, INDEX_VERSION))
        self.needs_index = False

    @staticmethod
    def _index(db: sqlite3.Connection, entries: list[IndexEntry]) -> None:
        """Keep the search index and the listing in step: (id, module, text, key); an
        empty text is not searched, a key of None not listed.

        Rows are written with ``VALUES`` whose rowids and feed places were read first,
        an ``IN (...)`` of 500 ids at a time: an ``INSERT ... SELECT`` into the FTS5
        table costs some 70 µs a row, against 5 this way."""
        entries = list({e[0]: e for e in entries}.values())  # the last of each record
        ids = [e[0] for e in entries]
        db.executemany("INSERT OR IGNORE INTO search_keys (id) VALUES (?)", [(i,) for i in ids])
        rowids: dict[str, int] = {}
        seqs: dict[str, int] = {}
        counts: Counter[str] = Counter()
        for start in range(0, len(ids), LOOKUP):
            chunk = ids[start : start + LOOKUP]
            marks = ",".join("?" * len(chunk))
            rowids.update(
                db.execute(f"SELECT id, rowid FROM search_keys WHERE id IN ({marks})", chunk)
            )
            seqs.update(db.execute(f"SELECT id, seq FROM records WHERE id IN ({marks})", chunk))
            counts.subtract(
                m for (m,) in db.execute(f"SELECT module FROM listing WHERE id IN ({marks})", chunk)
            )
        db.executemany("DELETE FROM search WHERE rowid = ?", [(rowids[i],) for i in ids])
        texts = [(rowids[i], t, m) for i, m, t, _ in entries if t]
        db.executemany("INSERT INTO search (rowid, text, module) VALUES (?, ?, ?)", texts)
        db.executemany("DELETE FROM listing WHERE id = ?", [(i,) for i in ids])
        listed = [(i, m, k, seqs[i]) for i, m, _, k in entries if k is not None and i in seqs]
        db.executemany("INSERT INTO listing VALUES (?, ?, ?, ?)", listed)
        counts.update(m for _, m, _, _ in listed)
        db.executemany(_COUNT, [(m, n) for m, n in counts.items() if n])

    def pending_index(self, limit: int) -> list[tuple[str, str, bytes]]:
        """(id, module, view) of up to ``limit`` records whose search text is queued."""
        sql = (
            "SELECT p.id, r.module, r.view FROM search_pending p "
            "JOIN records r ON r.id = p.id LIMIT ?"
        )
        pending = [(i, m, bytes(v)) for i, m, v in self._rows(sql, limit)]
        if not pending:  # rows queued for records no longer here (none today): drop them
            self._rows("DELETE FROM search_pending")
        return pending

    def index(self, entries: Iterable[IndexEntry]) -> None:
        """Index records anew: (id, module, text, key); they are no longer queued."""
        entries = list(entries)
        with self._transaction() as db:
            self._index(db, entries)
            db.executemany("DELETE FROM search_pending WHERE id = ?", [(e[0],) for e in entries])

    def search(self, module: str, words: Sequence[str], limit: int, offset: int = 0) -> list[bytes]:
        """Views of live ``module`` records whose text has every word (as a prefix),
        best matches first: ``limit`` of them from ``offset``."""
        if not words:
            return []
        query = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
        sql = (
            "SELECT r.view FROM search JOIN search_keys k ON k.rowid = search.rowid "
            "JOIN records r ON r.id = k.id WHERE search MATCH ? AND search.module = ? "
            "AND r.deleted = 0 ORDER BY search.rank LIMIT ? OFFSET ?"
        )
        rows = self._rows(sql, query, module, max(limit, 0), max(offset, 0))
        return [bytes(v) for (v,) in rows]

    def page(
        self,
        module: str,
        offset: int,
        limit: int,
        order: str = "key",
        descending: bool = False,
    ) -> list[bytes]:
        """Views of live ``module`` records, ``limit`` from ``offset`` in list order.

        The inner query walks one index of ``listing`` alone (it holds every column
        the query reads); only the page's own rows are read from ``records``."""
        columns = _ORDERS.get(order)
        if columns is None:
            raise UsageError(f"a list is ordered by key or changed, not {order!r}")
        direction = " DESC" if descending else ""
        inner = ", ".join(c + direction for c in columns)  # an index's order, or its reverse
        outer = ", ".join(f"l.{c}{direction}" for c in columns)
        sql = (
            f"SELECT r.view FROM (SELECT {', '.join(dict.fromkeys(('id', *columns)))} "
            f"FROM listing WHERE module = ? ORDER BY {inner} LIMIT ? OFFSET ?) AS l "
            f"JOIN records r ON r.id = l.id WHERE r.deleted = 0 ORDER BY {outer}"
        )
        rows = self._rows(sql, module, max(limit, 0), max(offset, 0))
        return [bytes(v) for (v,) in rows]

    def count_listed(self, module: str) -> int:
        """How many ``module`` records the listing holds (kept by triggers: no scan)."""
        found = self._rows("SELECT n FROM listing_counts WHERE module = ?", module)
        return int(found[0][0]) if found else 0

    def listed(self, module: str, keys: Sequence[str]) -> list[bytes]:
        """Views of live ``module`` records listed under one of ``keys``."""
        found: list[bytes] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            sql = (
                "SELECT r.view FROM listing l JOIN records r ON r.id = l.id "
                f"WHERE l.module = ? AND l.key IN ({','.join('?' * len(chunk))}) "
                "AND r.deleted = 0 ORDER BY l.key, l.id"
            )
            found += [bytes(v) for (v,) in self._rows(sql, module, *chunk)]
        return found
