"""The search index of the SQLite store: SQLite FTS5 over each record's text fields.

``search`` is an FTS5 table (``unicode61`` words, accents removed) whose rowid is
the record's stable rowid in ``search_keys``. A local write indexes its record in
its own commit; a merge only queues its records in ``search_pending`` (indexing
costs about 20 µs a record, too much for an initial sync of 100k), and the
replica indexes the queue before the next search, or when merges pause.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

_UNINDEX = "DELETE FROM search WHERE rowid = (SELECT rowid FROM search_keys WHERE id = ?)"
_INDEX = "INSERT INTO search (rowid, text, module) SELECT rowid, ?, ? FROM search_keys WHERE id = ?"


class SearchIndex:
    """The search side of :class:`~.sqlite.SqliteStore` (a part of it, not used alone)."""

    needs_index: bool
    _rows: Callable[..., list[Any]]
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    @staticmethod
    def _index(db: sqlite3.Connection, texts: list[tuple[str, str, str]]) -> None:
        """Keep the search index in step: (id, module, text); an empty text removes."""
        ids = [(record_id,) for record_id, _, _ in texts]
        db.executemany("INSERT OR IGNORE INTO search_keys (id) VALUES (?)", ids)
        db.executemany(_UNINDEX, ids)
        db.executemany(_INDEX, [(t, m, i) for i, m, t in texts if t])

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

    def index(self, texts: Iterable[tuple[str, str, str]]) -> None:
        """Index records anew: (id, module, text); they are no longer queued."""
        texts = list(texts)
        with self._transaction() as db:
            self._index(db, texts)
            db.executemany("DELETE FROM search_pending WHERE id = ?", [(t[0],) for t in texts])
        self.needs_index = False

    def search(self, module: str, words: Sequence[str], limit: int) -> list[bytes]:
        """Views of live ``module`` records whose text has every word (as a prefix),
        best matches first."""
        if not words:
            return []
        query = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
        sql = (
            "SELECT r.view FROM search JOIN search_keys k ON k.rowid = search.rowid "
            "JOIN records r ON r.id = k.id WHERE search MATCH ? AND search.module = ? "
            "AND r.deleted = 0 ORDER BY search.rank LIMIT ?"
        )
        return [bytes(v) for (v,) in self._rows(sql, query, module, limit)]
