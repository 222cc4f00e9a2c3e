"""``roamsync backup`` and ``roamsync restore``: a data directory in one file, and back.

A backup is a SQLite file: a consistent copy of the store, made with SQLite's
online backup while ``serve`` runs, plus a table ``backup_files`` with the
directory's configuration and TLS identity (so it is as secret as the
directory: mode 0600). Restoring it makes a new data directory that rejoins
the company safely:

* the store gets a **new store id**: every peer that meets it sends it all it
  has, so what changed since the backup (deletions too: a delete is a write)
  comes back, and nothing deleted since returns;
* a **new Yjs client id**: the writes made after the backup are on the peers
  under the old one, at clocks the restored store would reuse;
* no sync checkpoints: it sends its peers everything, and they merge it;
* a **numbering hold** (:mod:`roamsync.peer.replica.numbering`): a restored main
  gives no final number until it has synced, caught up both ways, with every
  active device of its registry, and then continues from the highest number
  the store holds. Numbers handed out after the backup are on those devices,
  so it cannot hand one out twice (a number only main itself held, lost with
  its disk, is lost: the order it numbered is too). Until then ``status``
  says whom it waits for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from roamsync.peer.org.config import CONFIG, TLS_DIR, device_id, load_config
from roamsync.peer.replica import Peer
from roamsync.peer.replica.numbering import HOLD
from roamsync.peer.store import STORE_FILE
from roamsync.peer.store import meta as keys
from roamsync.peer.store.files import PRIVATE_DIR, PRIVATE_FILE, make_private
from roamsync.schema import UsageError

FILES_TABLE = "backup_files"
ABOUT = ".backup"  # in FILES_TABLE: what the backup is (JSON)


def backup(peer: Peer, folder: Path, target: Path) -> dict[str, Any]:
    """Copy the data directory ``folder`` (its store open in ``peer``) into ``target``."""
    target = target.resolve()
    if target.exists():
        raise UsageError(f"{target} exists already: give a new file name")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    try:
        with contextlib.closing(sqlite3.connect(partial)) as db:
            peer.store.backup(db)  # type: ignore[attr-defined]
            files = _directory_files(folder)
            about = {"device": peer.device, "role": peer.role, "time": time.time()}
            db.execute(f"CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB)")
            db.executemany(f"INSERT INTO {FILES_TABLE} VALUES (?, ?)", files.items())
            db.execute(f"INSERT INTO {FILES_TABLE} VALUES (?, ?)", (ABOUT, orjson.dumps(about)))
            db.commit()
            records = db.execute("SELECT count(*) FROM records").fetchone()[0]
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return {"file": str(target), "records": records, "bytes": target.stat().st_size}


def _directory_files(folder: Path) -> dict[str, bytes]:
    """The configuration and the TLS identity, by path in the directory."""
    files = {CONFIG: (folder / CONFIG).read_bytes()}
    for path in sorted((folder / TLS_DIR).glob("*")):
        if path.is_file():
            files[f"{TLS_DIR}/{path.name}"] = path.read_bytes()
    return files


def restore(source: Path, folder: Path) -> dict[str, Any]:
    """Make the data directory ``folder`` (new, or empty) from the backup ``source``."""
    if not source.is_file():
        raise UsageError(f"{source} is not a file")
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(
            f"{folder} is not empty: restore into a new directory (move the old one aside)"
        )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
            files = dict(src.execute(f"SELECT name, content FROM {FILES_TABLE}").fetchall())
            about = orjson.loads(files.pop(ABOUT))
            make_private(folder)
            (folder / TLS_DIR).mkdir(mode=PRIVATE_DIR, exist_ok=True)
            for name, content in files.items():
                if ("/" in name and not name.startswith(f"{TLS_DIR}/")) or ".." in name:
                    raise UsageError(f"{source} holds an unexpected file {name!r}")
                path = folder / name
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
                with os.fdopen(fd, "wb") as out:
                    out.write(content)
            store = folder / STORE_FILE
            os.close(os.open(store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
            with contextlib.closing(sqlite3.connect(store)) as db:
                src.backup(db)
                _fresh_start(db, folder)
    except sqlite3.Error as exc:
        raise UsageError(f"{source} is not a roamsync backup ({exc})") from None
    return {"folder": str(folder), "device": about["device"], "role": about["role"]}


def _fresh_start(db: sqlite3.Connection, folder: Path) -> None:
    """A restored store: new store and client ids, no checkpoints, a numbering hold."""
    db.execute(f"DROP TABLE {FILES_TABLE}")
    forget = (keys.CHECKPOINT, keys.STORE_OF)
    for prefix in forget:
        db.execute("DELETE FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff"))
    new = {keys.STORE_ID: secrets.token_hex(8), keys.CLIENT_ID: str(secrets.randbits(31) << 1)}
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", new.items())
    db.commit()
    hold_numbering(db, folder)


def hold_numbering(db: sqlite3.Connection, folder: Path) -> None:
    """A store rebuilt from a backup or a repair: its numbering waits (main: for every
    active device of its registry; another device: for main) until it has synced."""
    config = load_config(folder)
    if config.role == "main":
        views = db.execute("SELECT view FROM records WHERE module = 'devices' AND deleted = 0")
        entries = [orjson.loads(view)["fields"] for (view,) in views]
        hold = [
            device_id(str(e["fingerprint"]))
            for e in entries
            if (e.get("status") or "active") == "active"
            and device_id(str(e["fingerprint"])) != config.device
        ]
    else:
        hold = [config.main_device]
    if hold:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (HOLD, orjson.dumps(hold).decode()))
    db.commit()


def hold_repaired(folder: Path) -> None:
    """:func:`hold_numbering` for a store ``roamsync repair`` rebuilt (no daemon runs)."""
    with contextlib.closing(sqlite3.connect(folder / STORE_FILE)) as db:
        hold_numbering(db, folder)
