"""Resident memory of a device holding N records, each stage in a fresh subprocess.

    .venv/bin/python bench/memory.py [N]      (default: ROAMSYNC_BENCH_N or 100000)

This process creates N contacts on a source peer (Peer.create) and serves them
on a plain websocket at 127.0.0.1. Then two fresh subprocesses, which measure
only themselves (VmRSS and the peak VmHWM from /proc/self/status, in MB):

1. ``receive``: a new device that opens an empty store and receives all N
   records over one Session (its initial sync); the worker process that read
   them for it (``peer/replica/arrival.py``) is measured too;
2. ``hold``: the device that now holds N records opens its store again,
   counts, lists all contacts (``list``), reads every one (``get``), then
   updates 10,000 of them (which loads their CRDT documents into the bounded
   cache; reads alone never load a document).

Per-record bytes are (RSS at a stage - RSS after imports) / N.
Target: at most 400 MB at 100k records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from benchlib import (
    COMPANY,
    bench_n,
    fill,
    log,
    machine,
    proc_status,
    report,
    until_count,
)

from roamsync.peer import Peer
from roamsync.transport.session import Session
from roamsync.transport.websocket import SYNC_PATH, accept, connect

TARGET_MB = 400.0
UPDATES = 10_000


def stage(stages: list[dict[str, Any]], name: str, t0: float, **extra: Any) -> None:
    gc.collect()
    stages.append({"stage": name, "seconds": time.perf_counter() - t0, **proc_status(), **extra})


async def child_receive(folder: Path, port: int, n: int) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    stage(stages, "imports", t0)
    peer = await Peer.open(folder, device="device", role="office")
    stage(stages, "open empty store", t0)
    async with aiohttp.ClientSession() as http:
        channel = await connect(http, f"http://127.0.0.1:{port}{SYNC_PATH}")
        session = Session(peer, channel, company=COMPANY)
        task = asyncio.ensure_future(session.run())
        await until_count(peer, "contacts", n, max(120.0, n / 100))
        worker = peer.merger.preparer._proc  # the process that read the records (arrival.py)
        extra = (
            {} if worker is None else {f"worker_{k}": v for k, v in proc_status(worker.pid).items()}
        )
        stage(stages, f"received {n} records", t0, **extra)
        await channel.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
    await peer.close()
    return stages


async def child_hold(folder: Path, n: int) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    stage(stages, "imports", t0)
    peer = await Peer.open(folder, device="device", role="office")
    stage(stages, "open", t0)
    count = peer.count("contacts")
    stage(stages, "count", t0, count=count)
    rows = peer.list("contacts")
    stage(stages, "list (result held)", t0, listed=len(rows))
    ids = [r["id"] for r in rows]
    del rows
    stage(stages, "list result dropped", t0)
    for record in ids:
        peer.get("contacts", record)
    stage(stages, "get every record", t0)
    for j, record in enumerate(ids[:UPDATES]):
        await peer.update("contacts", record, {"phone": f"m{j}"})
    stage(stages, f"update {min(UPDATES, len(ids))} records (document cache full)", t0)
    await peer.close()
    return stages


async def run_child(*args: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 1800)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed with {proc.returncode}")
    for line in out.decode().splitlines():
        if line.startswith("CHILD-JSON "):
            stages: list[dict[str, Any]] = json.loads(line[len("CHILD-JSON ") :])
            return stages
    raise RuntimeError(f"child {args[0]} printed no result")


def show(name: str, stages: list[dict[str, Any]], n: int) -> None:
    base = stages[0]["VmRSS"]
    for s in stages:
        s["rss_bytes_per_record"] = (s["VmRSS"] - base) * 1024 * 1024 / n
        log(
            f"  {name:7s} {s['stage']:55s} RSS {s['VmRSS']:7.1f} MB  peak {s['VmHWM']:7.1f} MB"
            f"  {s['rss_bytes_per_record']:7.0f} B/record  ({s['seconds']:.1f} s)"
        )
        if "worker_VmRSS" in s:
            log(
                f"  {name:7s} {'  its worker process':55s} RSS {s['worker_VmRSS']:7.1f} MB"
                f"  peak {s['worker_VmHWM']:7.1f} MB"
            )


async def main(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        root = Path(tmp)
        source = await Peer.open(root / "source", device="source", role="main")
        await fill(source, n)

        async def handler(request: web.Request) -> web.StreamResponse:
            channel = await accept(request)
            session = Session(source, channel, company=COMPANY)
            await session.run()
            assert isinstance(channel.ws, web.WebSocketResponse)  # accept() made it
            return channel.ws

        app = web.Application()
        app.router.add_get(SYNC_PATH, handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            received = await run_child("--receive", str(root / "device"), str(port), str(n))
        finally:
            await runner.cleanup()
            await source.close()
        held = await run_child("--hold", str(root / "device"), str(n))
    show("receive", received, n)
    show("hold", held, n)
    peak = max(s["VmHWM"] for s in [*received, *held])
    return {
        "n": n,
        "receive": received,
        "hold": held,
        "peak_mb": peak,
        "target_mb": TARGET_MB,
        # the target is stated for 100k records: below that it is not judged
        "target_met": peak <= TARGET_MB if n >= 100_000 else None,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--receive":
        folder, port, count = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        print("CHILD-JSON " + json.dumps(asyncio.run(child_receive(folder, port, count))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--hold":
        folder, count = Path(sys.argv[2]), int(sys.argv[3])
        print("CHILD-JSON " + json.dumps(asyncio.run(child_hold(folder, count))))
    else:
        n = bench_n()
        out = asyncio.run(main(n))
        log(f"peak RSS {out['peak_mb']:.0f} MB at {n} records (target {TARGET_MB:.0f} MB at 100k)")
        report("memory", {"machine": machine(), **out})
