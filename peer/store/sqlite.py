"""The durable store: one SQLite file in the data directory.

It runs in WAL mode with ``synchronous=FULL``: once ``save`` returns, the data
survives a kill -9 of the process and a power cut. A damaged file raises
:class:`~roamsync.schema.StoreDamagedError` (see ``roamsync repair``), never
opens as an empty store.

Opening checks the file (``PRAGMA quick_check``: 0.08 s for 100k records with
the file in the OS cache, 2.1 s from a cold disk) and that it is the store
this directory had: the store's random id is also kept beside it in
``<file>.id``, so a store that vanished, was emptied or was swapped for another
is reported, never replaced by an empty one. Damage found at open or on use
raises :class:`StoreDamagedError`, which names ``roamsync repair``.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roamsync.peer.store.base import RecordRow, Rejection
from roamsync.peer.store.files import PRIVATE_FILE, write_atomically
from roamsync.peer.store.meta import STORE_ID
from roamsync.peer.store.search import INDEX_TABLES, SearchIndex
from roamsync.peer.store.search import SCHEMA as INDEX_SCHEMA
from roamsync.schema import StoreDamagedError, StoreError

STORE_FILE = "roamsync.sqlite3"  # in the data directory
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    module TEXT NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    needs_number INTEGER NOT NULL,
    number TEXT,
    provisional TEXT,
    state BLOB NOT NULL,
    view BLOB NOT NULL,
    origin TEXT
);
CREATE INDEX IF NOT EXISTS records_module ON records (module, deleted);
CREATE UNIQUE INDEX IF NOT EXISTS records_seq ON records (seq);
DROP INDEX IF EXISTS records_number;
DROP INDEX IF EXISTS records_provisional;
CREATE INDEX IF NOT EXISTS records_numbered ON records (module, number) WHERE number IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_provisionally_numbered ON records (module, provisional)
    WHERE provisional IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_unnumbered ON records (needs_number) WHERE needs_number = 1;
CREATE TABLE IF NOT EXISTS conflicts (
    record TEXT NOT NULL,
    module TEXT NOT NULL,
    time INTEGER NOT NULL,
    episode BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_record ON conflicts (record);
CREATE TABLE IF NOT EXISTS rejections (
    time INTEGER NOT NULL,
    record TEXT NOT NULL,
    module TEXT NOT NULL,
    device TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + INDEX_SCHEMA
)  # the search index and the listing (search.py)


def id_file(path: Path) -> Path:
    """Where the id of the store at ``path`` is kept beside it."""
    return path.with_name(path.name + ".id")


def _is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "malformed" in str(exc) or "not a database" in str(exc)
    return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _check_access(path: Path) -> None:
    """A file roamsync may not read or write is not damaged: say so, not \"malformed\".

    ``os.access``, not ``open()``: closing a descriptor of a file that this process
    also has open in SQLite would drop SQLite's POSIX locks on it."""
    if path.is_file() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(
            f"cannot open the store {path}: permission denied. The user running roamsync needs "
            "read and write access to the file and its directory (chown/chmod); the file "
            "itself is not damaged."
        )


class SqliteStore(SearchIndex):
    """The durable store: one SQLite file in the peer's data directory (module doc)."""

    def __init__(self, path: Path | str, *, check: bool = True) -> None:
        self.path = Path(path)
        self.marker = id_file(self.path)
        self.on_damage: Callable[[StoreDamagedError], None] | None = None
        expected = self._expected_id()
        _check_access(self.path)
        try:
            # SQLite gives the -wal and -shm files the store's own mode: create it 0600
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._failure(exc, "cannot open") from exc
        try:
            self._open(check, expected)
        except BaseException:
            self.db.close()
            raise

    def _open(self, check: bool, expected: str | None) -> None:
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            if check:
                problems = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(5)")]
                if problems != ["ok"]:
                    raise StoreDamagedError(self.path, " ".join(problems).replace("\n", " "))
            tables = ", ".join(f"'{t}'" for t in INDEX_TABLES)
            sql = f"SELECT count(*) FROM sqlite_master WHERE name IN ({tables})"
            whole = self.db.execute(sql).fetchone()[0] == len(INDEX_TABLES)
            self.db.executescript(SCHEMA)
            self.needs_index = self._index_outdated(whole)
            self._seq: int = self.db.execute(
                "SELECT coalesce(max(seq), 0) FROM records"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            raise self._failure(exc, "cannot open") from exc
        self._keep_id(expected)

    def _expected_id(self) -> str | None:
        """The id of the store this directory had, if it had one: then the file must be there."""
        try:
            expected = self.marker.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.marker}: {exc}") from exc
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise StoreDamagedError(
                self.path, f"the file is missing or empty, but {self.marker.name} says it existed"
            )
        return expected

    def _keep_id(self, expected: str | None) -> None:
        found = self.meta(STORE_ID)
        if found is None and expected is None:
            found = secrets.token_hex(8)
            self.save([], {STORE_ID: found})
        if found != expected and expected is not None:
            raise StoreDamagedError(
                self.path,
                f"it is not the store this directory had ({self.marker.name} says "
                f"{expected}, the file has {found}): it was replaced",
            )
        if expected is None:
            write_atomically(self.marker, f"{found}\n".encode())

    def _failure(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """Translate a sqlite error; damage also tells ``on_damage`` (the daemon stops)."""
        if not _is_damage(exc):
            return StoreError(f"{doing} store {self.path}: {exc}")
        damaged = StoreDamagedError(self.path, str(exc))
        if self.on_damage is not None:
            self.on_damage(damaged)
        return damaged

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._failure(exc, "writing") from exc

    def _rows(self, sql: str, *args: object) -> list[Any]:
        """Run a read; sqlite errors become StoreError (StoreDamagedError for damage)."""
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._failure(exc, "reading") from exc

    def save(
        self,
        rows: Iterable[RecordRow],
        meta: Mapping[str, str] = {},
        *,
        durable: bool = True,
        index_later: bool = False,
    ) -> None:
        """Store rows and metadata in one transaction. ``index_later``: queue the rows
        for the search index and the listing instead of indexing them now
        (:meth:`index_pending`): a large merge is not slowed by the index, about 20 µs
        a record."""
        if not durable:  # no fsync: in WAL mode the commit is atomic, only not yet durable
            self._pragma("synchronous=NORMAL")
            try:
                self._save(rows, meta, index_later)
            finally:
                self._pragma("synchronous=FULL")
            return
        self._save(rows, meta, index_later)

    def _pragma(self, setting: str) -> None:
        try:
            self.db.execute(f"PRAGMA {setting}")
        except sqlite3.Error as exc:
            raise self._failure(exc, "configuring") from exc

    def _save(
        self, rows: Iterable[RecordRow], meta: Mapping[str, str], index_later: bool = False
    ) -> None:
        rows = list(rows)
        first = self._seq + 1
        records = [
            (
                row.id,
                row.module,
                first + n,
                row.deleted,
                row.needs_number,
                row.number,
                row.provisional,
                row.state,
                row.view,
                row.origin,
            )
            for n, row in enumerate(rows)
        ]
        conflicts = [(row.id, row.module, t, ep) for row in rows for t, ep in row.conflicts]
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?)", records)
            db.executemany("DELETE FROM conflicts WHERE record = ?", [(r.id,) for r in rows])
            db.executemany("INSERT INTO conflicts VALUES (?,?,?,?)", conflicts)
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta.items())
            if index_later:
                ids = [(row.id,) for row in rows]
                db.executemany("INSERT OR IGNORE INTO search_pending VALUES (?)", ids)
            elif rows:
                db.executemany("DELETE FROM search_pending WHERE id = ?", [(r.id,) for r in rows])
                self._index(db, [(row.id, row.module, row.text, row.key) for row in rows])
        self._seq += len(rows)

    def states(self, record_ids: Iterable[str]) -> dict[str, bytes]:
        """The stored states of those of ``record_ids`` that exist, in one query per 500."""
        ids = list(record_ids)
        found: dict[str, bytes] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = f"SELECT id, state FROM records WHERE id IN ({','.join('?' * len(chunk))})"
            found.update((i, bytes(st)) for i, st in self._rows(sql, *chunk))
        return found

    def _one(self, sql: str, *args: object) -> bytes | None:
        found = self._rows(sql, *args)
        return None if not found else bytes(found[0][0])

    def state(self, record_id: str) -> bytes | None:
        return self._one("SELECT state FROM records WHERE id = ?", record_id)

    def view(self, record_id: str) -> bytes | None:
        return self._one("SELECT view FROM records WHERE id = ?", record_id)

    def views(self, module: str) -> list[bytes]:
        sql = "SELECT view FROM records WHERE module = ? AND deleted = 0 ORDER BY id"
        return [bytes(v) for (v,) in self._rows(sql, module)]

    def find_number(self, module: str, number: str, deleted: bool = False) -> list[bytes]:
        live = "SELECT view FROM records WHERE module = ?" + ("" if deleted else " AND deleted = 0")
        sql = f"{live} AND number = ? UNION {live} AND provisional = ?"  # one index each
        return [bytes(v) for (v,) in self._rows(sql, module, number, module, number)]

    def backup(self, target: sqlite3.Connection) -> None:
        """A consistent copy of the whole store into ``target`` (SQLite's online backup:
        writers wait for each step, a running daemon goes on serving)."""
        try:
            self.db.backup(target, pages=4096)
        except sqlite3.Error as exc:
            raise self._failure(exc, "backing up") from exc

    def numbers(self, module: str) -> list[str]:
        """Every final and provisional number of ``module``'s records, deleted ones too."""
        sql = "SELECT number, provisional FROM records WHERE module = ?"
        return [str(n) for row in self._rows(sql, module) for n in row if n is not None]

    def count(self, module: str) -> int:
        sql = "SELECT count(*) FROM records WHERE module = ? AND deleted = 0"
        return int(self._rows(sql, module)[0][0])

    def changes(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        sql = "SELECT seq, id, state FROM records WHERE seq > ? ORDER BY seq LIMIT ?"
        return [(s, i, bytes(st)) for s, i, st in self._rows(sql, after, limit)]

    def changed(self, after: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, id, module) of the records changed after ``after``, states unread."""
        sql = "SELECT seq, id, module FROM records WHERE seq > ? ORDER BY seq LIMIT ?"
        return [(s, i, m) for s, i, m in self._rows(sql, after, limit)]

    def feed(self, after: int, limit: int, peer: str) -> tuple[list[tuple[int, str, bytes]], int]:
        """Up to ``limit`` feed entries after ``after`` for ``peer``: (seq, id, state) of
        those that did not come from ``peer`` itself, and the position read up to.

        Skipped entries are filtered in SQL, so their states are never read: after an
        initial sync a whole feed of records that came from ``peer`` costs one query.
        """
        sql = (
            "SELECT seq, id, state FROM records WHERE seq > ? "
            "AND (origin IS NULL OR origin != ?) ORDER BY seq LIMIT ?"
        )
        items = [(s, i, bytes(st)) for s, i, st in self._rows(sql, after, peer, limit)]
        upto = items[-1][0] if len(items) == limit else self._seq
        return items, max(upto, after)

    def system_changes(
        self, after: int, peer: str, modules: Sequence[str]
    ) -> list[tuple[int, str, bytes]]:
        """(seq, id, state) of the records of ``modules`` changed after ``after`` that did
        not come from ``peer``, in feed order."""
        marks = ", ".join("?" * len(modules))
        sql = (
            f"SELECT seq, id, state FROM records WHERE module IN ({marks}) AND seq > ? "
            "AND (origin IS NULL OR origin != ?) ORDER BY seq"
        )
        return [(s, i, bytes(st)) for s, i, st in self._rows(sql, *modules, after, peer)]

    def count_feed(self, after: int, peer: str) -> int:
        """How many records ``feed`` has left for ``peer`` after ``after``."""
        sql = "SELECT count(*) FROM records WHERE seq > ? AND (origin IS NULL OR origin != ?)"
        return int(self._rows(sql, after, peer)[0][0])

    def forget_origin(self, peer: str) -> None:
        """Send ``peer`` again, too, what came from it: it lost its store (repaired)."""
        with self._transaction() as db:
            db.execute("UPDATE records SET origin = NULL WHERE origin = ?", (peer,))

    def last_seq(self) -> int:
        return self._seq

    def unnumbered(self) -> list[str]:
        return [i for (i,) in self._rows("SELECT id FROM records WHERE needs_number = 1")]

    def conflicts(self) -> list[tuple[str, str, bytes]]:
        sql = "SELECT record, module, episode FROM conflicts ORDER BY time, record, rowid"
        return [(r, m, bytes(e)) for r, m, e in self._rows(sql)]

    def reject(self, rejection: Rejection) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO rejections VALUES (?,?,?,?,?)",
                (
                    rejection.time,
                    rejection.record,
                    rejection.module,
                    rejection.device,
                    rejection.reason,
                ),
            )

    def rejections(self) -> list[Rejection]:
        sql = "SELECT time, record, module, device, reason FROM rejections ORDER BY time"
        return [Rejection(*r) for r in self._rows(sql)]

    def meta(self, key: str) -> str | None:
        found = self._rows("SELECT value FROM meta WHERE key = ?", key)
        return None if not found else str(found[0][0])

    def meta_prefix(self, prefix: str) -> dict[str, str]:
        """Every metadata entry whose key starts with ``prefix``."""
        sql = "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key"
        return dict(self._rows(sql, prefix, prefix + "\uffff"))

    def forget(self, keys: Iterable[str]) -> None:
        """Delete metadata entries."""
        with self._transaction() as db:
            db.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        self.db.close()
