"""Storage bytes per record after many edits, and after opening the store again.

    .venv/bin/python bench/storage.py [RECORDS] [EDITS]      (default 1000 x 50)

Two runs, each on fresh stores:

* ``one device``: main creates RECORDS contacts, then edits each one EDITS
  times, round-robin over the records: every fifth edit rewrites the middle of
  the ``notes`` text (CRDT text, so deleted characters can leave tombstones),
  the others set phone, email, address or kind;
* ``two devices``: the same edits alternate between main and an office device,
  with an in-process sync (roamsync.transport.memory) after every round, so
  every record carries two writers' slots and both notes lanes.

Measured on the SQLite file (read-only, with its own connection): file bytes
(database + WAL) per record, and the CRDT state and resolved view bytes per
record, after creating, after the edits, after closing and opening again, and
what ``VACUUM`` of a copy would leave. Reference: the floor's single-writer
six-field pycrdt update is about 150-220 bytes.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import contact, log, machine, report

from roamsync.peer import Peer
from roamsync.peer.store import STORE_FILE
from roamsync.transport.memory import sync

PLAIN = ("phone", "email", "address", "kind")
WORDS = ("new", "called", "waiting", "signed", "lost", "won", "follow-up")


def measure(folder: Path, n: int) -> dict[str, float]:
    db_path = folder / STORE_FILE
    files = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(STORE_FILE))
    wal = folder / f"{STORE_FILE}-wal"
    wal_size = wal.stat().st_size if wal.exists() else 0
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        states, views, count = db.execute(
            "SELECT sum(length(state)), sum(length(view)), count(*) FROM records "
            "WHERE module = 'contacts'"
        ).fetchone()
        biggest = db.execute(
            "SELECT max(length(state)) FROM records WHERE module = 'contacts'"
        ).fetchone()[0]
    finally:
        db.close()
    return {
        "file_bytes_per_record": files / n,
        "db_bytes_per_record": (files - wal_size) / n,
        "wal_bytes": wal_size,
        "state_bytes_per_record": states / count,
        "view_bytes_per_record": views / count,
        "max_state_bytes": biggest,
        "records": count,
    }


def vacuumed(folder: Path, n: int, scratch: Path) -> float:
    """File bytes per record of a VACUUMed copy of the (closed) store."""
    scratch.mkdir()
    shutil.copy(folder / STORE_FILE, scratch / STORE_FILE)
    db = sqlite3.connect(scratch / STORE_FILE)
    db.execute("VACUUM")
    db.close()
    size = (scratch / STORE_FILE).stat().st_size
    shutil.rmtree(scratch)
    return size / n


def note_text(k: int) -> str:
    word = WORDS[k % len(WORDS)]
    return f"Customer since 2019. Status: {word} (edit {k}). Prefers e-mail; invoices quarterly."


async def run(root: Path, n: int, edits: int, two_devices: bool) -> dict[str, Any]:
    main = await Peer.open(root / "main", device="main", role="main")
    office = (
        await Peer.open(root / "office", device="office", role="office") if two_devices else None
    )
    stages: dict[str, Any] = {}
    try:
        ids = [
            await main.create("contacts", {**contact(i), "notes": note_text(0)}) for i in range(n)
        ]
        if office is not None:
            await sync(main, office)
        stages["created"] = measure(root / "main", n)
        growth = []
        t0 = time.perf_counter()
        for k in range(1, edits + 1):
            writer = office if office is not None and k % 2 == 0 else main
            for i, record in enumerate(ids):
                if k % 5 == 0:
                    fields: dict[str, str] = {"notes": note_text(k)}
                else:
                    name = PLAIN[k % len(PLAIN)]
                    fields = {name: f"{name} {i} v{k}"}
                await writer.update("contacts", record, fields)
            if office is not None:
                await sync(main, office)
            if k in (1, 5, 10, 25) or k == edits:
                s = measure(root / "main", n)
                growth.append({"edits": k, "state_bytes_per_record": s["state_bytes_per_record"]})
        took = time.perf_counter() - t0
        stages["edited"] = measure(root / "main", n)
        check = main.get("contacts", ids[0])
        assert check["notes"] == note_text(edits - edits % 5), check["notes"]
    finally:
        await main.close()
        if office is not None:
            await office.close()
    main = await Peer.open(root / "main", device="main", role="main")
    reopened_count = main.count("contacts")
    await main.close()
    stages["reopened"] = measure(root / "main", n)
    stages["vacuumed_file_bytes_per_record"] = vacuumed(root / "main", n, root / "vacuum")
    return {
        "records": n,
        "edits_per_record": edits,
        "edit_seconds": took,
        "edits_per_s": n * edits / took,
        "reopened_count": reopened_count,
        "state_growth": growth,
        **stages,
    }


async def main(n: int, edits: int) -> dict[str, Any]:
    results: dict[str, Any] = {"records": n, "edits_per_record": edits}
    for name, two in (("one_device", False), ("two_devices", True)):
        with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
            r = await run(Path(tmp), n, edits, two)
        results[name] = r
        log(f"{name}: {n} records x {edits} edits in {r['edit_seconds']:.1f} s")
        for stage in ("created", "edited", "reopened"):
            s = r[stage]
            log(
                f"  {stage:9s} file {s['file_bytes_per_record']:7.0f} B/record (WAL "
                f"{s['wal_bytes'] / 1e6:.1f} MB, db {s['db_bytes_per_record']:5.0f} B/record)  "
                f"state {s['state_bytes_per_record']:6.0f} B  "
                f"view {s['view_bytes_per_record']:5.0f} B  largest state {s['max_state_bytes']} B"
            )
        log(f"  vacuumed  file {r['vacuumed_file_bytes_per_record']:7.0f} B/record")
        growth = ", ".join(
            f"{g['edits']}: {g['state_bytes_per_record']:.0f} B" for g in r["state_growth"]
        )
        log(f"  state bytes/record after k edits: {growth}")
    return results


if __name__ == "__main__":
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    edits = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    out = asyncio.run(main(records, edits))
    report("storage", {"machine": machine(), **out})
