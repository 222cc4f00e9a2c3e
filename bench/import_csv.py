"""Importing a CSV file against the floor: pycrdt plus SQLite for the same records.

    .venv/bin/python bench/import_csv.py [N] [--json FILE]

Writes N contacts to a CSV file, then, alternating, twice each:

* ``floor``: per record a pycrdt document holding the row's fields in a map, its
  state encoded, and the state and a JSON view stored in SQLite (WAL,
  ``synchronous=FULL``) in batches of 1,000 per commit: what any CRDT store of
  these records must do at least;
* ``import``: ``roamsync import`` of the file on main (through the operation the
  CLI runs, on a node opened on an initialised directory): read and check every
  row, then create them in batches, each record's slot signed with main's key,
  its search text indexed.

Reports the seconds of each and their ratio (issue 13 aims at 2x or less).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import orjson
from benchlib import log, main_with_n
from pycrdt import Doc, Map

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.enrolment import init_directory

FIELDS = ["name", "email", "phone", "address", "customer"]


def write_csv(path: Path, n: int) -> list[dict[str, str]]:
    rows = [
        {
            "name": f"Kunde {i} AS",
            "email": f"post{i}@kunde{i}.no",
            "phone": f"+47 22 {i % 100:02d} {i % 97:02d} {i % 89:02d}",
            "address": f"Storgata {i % 300}, 0155 Oslo",
            "customer": "ja" if i % 3 else "nei",
        }
        for i in range(n)
    ]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def floor(rows: list[dict[str, str]], folder: Path) -> float:
    t0 = time.perf_counter()
    db = sqlite3.connect(folder / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE r (id TEXT PRIMARY KEY, state BLOB, view BLOB)")
    for start in range(0, len(rows), 1000):
        batch = []
        for i, row in enumerate(rows[start : start + 1000], start):
            doc: Doc[Map[str]] = Doc()
            fields = doc.get("fields", type=Map)
            fields.update(row)
            batch.append((f"r{i}", doc.get_update(), orjson.dumps(row)))
        db.execute("BEGIN")
        db.executemany("INSERT INTO r VALUES (?, ?, ?)", batch)
        db.execute("COMMIT")
    db.close()
    return time.perf_counter() - t0


async def roamsync_import(path: Path, folder: Path) -> float:
    await init_directory(folder, name="hq", role="main", company_name="Bench", port=0)
    node = await Node.open(folder)
    try:
        t0 = time.perf_counter()
        report = await ops.import_records(node, "contacts", str(path))
        dt = time.perf_counter() - t0
        assert report["imported"] == report["rows"], report
    finally:
        await node.stop()
    return dt


async def run(n: int) -> dict[str, object]:
    result: dict[str, list[float]] = {"floor_s": [], "import_s": []}
    with tempfile.TemporaryDirectory(prefix="roamsync-import-") as tmp:
        root = Path(tmp)
        path = root / "contacts.csv"
        rows = write_csv(path, n)
        for r in range(2):
            run_dir = root / f"round{r}"
            run_dir.mkdir()
            result["floor_s"].append(floor(rows, run_dir))
            result["import_s"].append(await roamsync_import(path, run_dir / "hq"))
            floor_s, import_s = result["floor_s"][-1], result["import_s"][-1]
            log(f"  round {r}: floor {floor_s:.1f} s, import {import_s:.1f} s")
    ratios = [i / f for i, f in zip(result["import_s"], result["floor_s"], strict=True)]
    out = {"n": n, **result, "ratio": ratios}
    log(json.dumps(out))
    return out


if __name__ == "__main__":
    main_with_n(run, 100_000)
