"""Initial sync of N contacts to a new device, against the pycrdt + SQLite floor.

    .venv/bin/python bench/floor_vs_sync.py [N]      (default: ROAMSYNC_BENCH_N or 100000)

The floor (FACTS.md): in one process, pycrdt alone creates N six-field contacts
(one Doc with one Map each), encodes each (get_update), applies each into a
fresh Doc and stores the bytes in SQLite (WAL, one transaction). The floor
figure is encode + apply + store, the work a sync has to do once the records
exist; creating them is timed apart.

Then the same N contacts are created on a main device with Peer.create (not
timed) and synced, all in this one process (so both ends share one core, as
the floor does), to:

* ``tls``: a newly joined Node (init_directory, invite, join_company, then
  Node.open/start(discovery=False)), timed from its start until its
  count("contacts") == N: mutual TLS websocket, device registry, everything;
* ``ws``: a fresh Peer over a plain-http websocket with two Sessions, timed from
  the connect;
* ``memory``: the same two Sessions over an in-process channel (no socket), to
  tell the network's share from the replica's.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Company,
    Pair,
    WsServer,
    bench_n,
    contact,
    fill,
    log,
    machine,
    report,
    until,
    until_count,
)
from pycrdt import Doc, Map

from roamsync.peer import Peer
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import load_config
from roamsync.transport.channel import memory_pair

ROAMSYNC = [sys.executable, "-c", "from roamsync.peer.cli import entry; entry()"]
FIELDS = ("name", "email", "phone", "address", "org_number", "kind")


def floor(n: int, folder: Path) -> dict[str, float]:
    """pycrdt alone: create, encode, apply into fresh docs, store in SQLite (one transaction)."""
    t0 = time.perf_counter()
    docs = []
    for i in range(n):
        doc: Doc[Any] = Doc()
        fields = doc.get("contact", type=Map)
        values = contact(i)
        with doc.transaction():
            for name in FIELDS:
                fields[name] = values[name]
        docs.append(doc)
    t1 = time.perf_counter()
    updates = [doc.get_update() for doc in docs]
    t2 = time.perf_counter()
    for update in updates:
        fresh: Doc[Any] = Doc()
        fresh.apply_update(update)
    t3 = time.perf_counter()
    db = sqlite3.connect(folder / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, state BLOB NOT NULL)")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO records VALUES (?, ?)", ((f"r{i}", u) for i, u in enumerate(updates))
    )
    db.execute("COMMIT")
    t4 = time.perf_counter()
    db.close()
    size = sum(len(u) for u in updates)
    del docs
    return {
        "create_s": t1 - t0,
        "encode_s": t2 - t1,
        "apply_s": t3 - t2,
        "store_s": t4 - t3,
        "floor_s": t4 - t1,
        "floor_with_create_s": t4 - t0,
        "update_bytes_per_record": size / n,
    }


def stats_of(pair_stats: Any) -> dict[str, int]:
    s = pair_stats
    return {
        "frames_out": s.frames_out,
        "frames_in": s.frames_in,
        "bytes_out": s.bytes_out,
        "bytes_in": s.bytes_in,
    }


async def sync_tls(root: Path, n: int) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    company = Company(root)
    try:
        hq = await company.main("hq")
        await fill(hq.peer, n, label="hq ")
        folder = await company.enrol(hq, "office")
        limit = max(120.0, n / 100)
        t0 = time.perf_counter()
        office = await company.start(folder)
        await until_count(office.peer, "contacts", n, limit)
        took = time.perf_counter() - t0
        session = hq.sessions.states[office.peer.device].session
        stats = stats_of(session.stats) if session is not None else {}
        await office.stop()  # out of the way of the next sync
        log("tls2: the same to another new device, a `roamsync serve` process (as in use)")
        two = await sync_tls_process(company, hq, n)
        config = load_config(root / "hq")
        return {"seconds": took, "hq_session": stats}, two, config.device, config.name
    finally:
        await company.stop()


def _count(store: Path) -> int:
    """Contacts in a store, read-only (WAL lets a reader in while the daemon writes)."""
    if not store.exists():
        return 0
    try:
        uri = f"file:{store}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            sql = "SELECT count(*) FROM records WHERE module = 'contacts' AND deleted = 0"
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the daemon is still creating its schema
        return 0


async def sync_tls_process(company: Company, hq: Node, n: int) -> dict[str, Any]:
    """As ``sync_tls``, but the new device is a real ``roamsync serve`` process, as in use.

    Timed from spawning the process (interpreter start-up and imports included)
    until its store holds N contacts; main stays in this process. The start-up
    (spawn until the daemon prints "serving") is reported apart too.
    """
    folder = await company.enrol(hq, "office-p")
    store = folder / "roamsync.sqlite3"
    command = [*ROAMSYNC, "serve", str(folder), "--no-discovery"]
    t0 = time.perf_counter()
    with (folder / "serve.log").open("w") as out:
        proc = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
        try:
            limit = max(120.0, n / 100)
            log_file = folder / "serve.log"
            await until(
                lambda: "serving" in log_file.read_text() or proc.returncode is not None, 60, 0.01
            )
            up = time.perf_counter() - t0
            await until(lambda: _count(store) >= n or proc.returncode is not None, limit, 0.05)
            took = time.perf_counter() - t0
            if proc.returncode is not None:
                raise RuntimeError(f"roamsync serve exited early: see {folder / 'serve.log'}")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
    return {"seconds": took, "startup_s": up, "sync_after_startup_s": took - up}


async def sync_sessions(source: Peer, root: Path, n: int, kind: str) -> dict[str, Any]:
    target = await Peer.open(root / f"target-{kind}", device=f"target-{kind}", role="office")
    limit = max(120.0, n / 100)
    try:
        if kind == "ws":
            async with WsServer() as server:
                t0 = time.perf_counter()
                near, far = await server.pair()
                pair = Pair(source, target, near, far)
                await until_count(target, "contacts", n, limit)
                took = time.perf_counter() - t0
                await pair.close()
        else:
            t0 = time.perf_counter()
            near, far = memory_pair()
            pair = Pair(source, target, near, far)
            await until_count(target, "contacts", n, limit)
            took = time.perf_counter() - t0
            await pair.close()
        return {"seconds": took, "source_session": stats_of(pair.sa.stats)}
    finally:
        await target.close()


async def roamsync_syncs(root: Path, n: int) -> dict[str, Any]:
    """roamsync's three initial syncs of n contacts: mTLS Node, plain websocket, in-process."""
    results: dict[str, Any] = {}
    log(f"tls: initial sync of {n} contacts to a newly joined Node (mTLS websocket)")
    results["tls"], results["tls2"], hq_device, hq_name = await sync_tls(root, n)
    source = await Peer.open(root / "hq", device=hq_device, role="main", label=hq_name)
    try:
        for kind in ("ws", "memory"):
            log(f"{kind}: initial sync of {n} contacts to a fresh Peer (two Sessions)")
            results[kind] = await sync_sessions(source, root, n, kind)
    finally:
        await source.close()
    return results


async def main(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        root = Path(tmp)
        log(f"floor: pycrdt + SQLite, {n} records")
        fl = floor(n, root)
        log(
            f"  create {fl['create_s']:.2f} s, encode {fl['encode_s']:.2f} s, apply "
            f"{fl['apply_s']:.2f} s, store {fl['store_s']:.2f} s -> floor {fl['floor_s']:.2f} s "
            f"({n / fl['floor_s']:.0f} rec/s); {fl['update_bytes_per_record']:.0f} B/update"
        )
        results: dict[str, Any] = {"n": n, "floor": fl}
        results.update(await roamsync_syncs(root, n))
        for kind in ("tls2", "tls", "ws", "memory"):
            r = results[kind]
            r["records_per_s"] = n / r["seconds"]
            r["ratio_to_floor"] = r["seconds"] / fl["floor_s"]
            r["ratio_to_floor_with_create"] = r["seconds"] / fl["floor_with_create_s"]
            log(
                f"  {kind:6s} {r['seconds']:7.2f} s  {r['records_per_s']:7.0f} rec/s  "
                f"{r['ratio_to_floor']:5.1f}x floor"
            )
        results["target_tls_ratio"] = 3.0
        results["tls_target_met"] = results["tls2"]["ratio_to_floor"] <= 3.0
        return results


if __name__ == "__main__":
    n = bench_n()
    out = asyncio.run(main(n))
    report("floor_vs_sync", {"machine": machine(), **out})
