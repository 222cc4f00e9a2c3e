"""The Python baseline: the same contacts synced with pycrdt-websocket, against roamsync.

    .venv/bin/python bench/baseline_pycrdt_websocket.py [N]   (default 2000; needs ".[bench]")

pycrdt-websocket 0.16.5 (FACTS.md, "What users would otherwise pick") has no
notion of a collection: one Yjs document is one room, reached over one
websocket. So N six-field contacts (the same records as floor_vs_sync.py,
one Doc with one Map each) are N rooms:

* the source is a ``pycrdt.websocket.WebsocketServer`` on 127.0.0.1 (served by
  aiohttp, without compression, as roamsync's websocket is), holding one
  ``YRoom`` per record, filled before the clock starts;
* the new device opens, per record, a websocket to ``/<record id>`` and runs a
  ``pycrdt.Provider`` (pycrdt-websocket's client side) on a fresh Doc until
  ``synced`` (SYNC_STEP2 received), then closes the socket. CONCURRENCY records
  are in flight at once. The received updates are stored in SQLite (WAL,
  synchronous=FULL, one transaction), as the floor stores them.

The clock runs from the first connect until the last record is stored. The run
is capped at LIMIT seconds: records not synced by then are not counted, and the
N actually synced is reported. Every received record is checked afterwards.

roamsync's in-process (memory), plain websocket (ws) and TLS syncs of the same
N contacts, and the pycrdt + SQLite floor, are measured in the same process
with floor_vs_sync.py's functions, so the ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from benchlib import bench_n, contact, log, machine, report
from floor_vs_sync import FIELDS, floor, roamsync_syncs
from pycrdt import Doc, Map, Provider
from pycrdt.websocket import WebsocketServer, YRoom

DEFAULT_N = 2000
CONCURRENCY = 32  # records (sockets) in flight at once on the new device
LIMIT = 60.0  # seconds: the baseline stops counting after this


class AiohttpChannel:
    """A ``pycrdt.Channel`` over an aiohttp websocket (server or client side)."""

    def __init__(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, path: str):
        self.ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> AiohttpChannel:
        return self

    async def __anext__(self) -> bytes:
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise StopAsyncIteration
        return bytes(msg.data)

    async def send(self, message: bytes) -> None:
        await self.ws.send_bytes(message)

    async def recv(self) -> bytes:
        return await self.__anext__()


def record_doc(i: int) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    fields = doc.get("contact", type=Map)
    values = contact(i)
    with doc.transaction():
        for name in FIELDS:
            fields[name] = values[name]
    return doc


async def baseline(n: int, folder: Path) -> dict[str, Any]:
    """Sync ``n`` one-record rooms to a fresh device; stops counting after LIMIT seconds."""
    server = WebsocketServer(rooms_ready=True, auto_clean_rooms=False)

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        await server.serve(AiohttpChannel(ws, request.match_info["room"]))
        return ws

    app = web.Application()
    app.router.add_get("/{room}", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    received: dict[int, bytes] = {}
    async with server:
        t0 = time.perf_counter()
        for i in range(n):
            server.rooms[f"r{i}"] = YRoom(ydoc=record_doc(i))
        log(f"  setup: {n} rooms filled in {time.perf_counter() - t0:.1f} s (not timed)")
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        deadline = time.perf_counter() + LIMIT

        async def worker(http: aiohttp.ClientSession) -> None:
            while time.perf_counter() < deadline:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                async with http.ws_connect(f"http://127.0.0.1:{port}/r{i}", compress=0) as ws:
                    doc: Doc[Any] = Doc()
                    async with Provider(doc, AiohttpChannel(ws, f"r{i}")) as provider:
                        await asyncio.wait_for(provider.synced.wait(), 30)
                    received[i] = doc.get_update()

        try:
            async with aiohttp.ClientSession() as http:
                t0 = time.perf_counter()
                async with asyncio.timeout(LIMIT + 60):
                    await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
                synced_s = time.perf_counter() - t0
                db = sqlite3.connect(folder / "baseline.sqlite3", isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, state BLOB NOT NULL)")
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO records VALUES (?, ?)", ((f"r{i}", u) for i, u in received.items())
                )
                db.execute("COMMIT")
                db.close()
                took = time.perf_counter() - t0
        finally:
            await runner.cleanup()
    for i, update in received.items():  # every synced record arrived whole
        check: Doc[Any] = Doc()
        check.apply_update(update)
        assert check.get("contact", type=Map).to_py() == contact(i), i
    done = len(received)
    return {
        "n_requested": n,
        "n": done,
        "complete": done == n,
        "concurrency": CONCURRENCY,
        "limit_s": LIMIT,
        "sync_s": synced_s,
        "seconds": took,
        "records_per_s": done / took,
    }


async def main(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        root = Path(tmp)
        log(
            f"pycrdt-websocket {metadata.version('pycrdt-websocket')}: {n} contacts, one room and "
            f"one socket each, {CONCURRENCY} at once, at most {LIMIT:.0f} s"
        )
        base = await baseline(n, root)
        log(
            f"  {base['n']}/{n} records in {base['seconds']:.2f} s "
            f"({base['records_per_s']:.0f} rec/s)"
        )
        m = base["n"]  # roamsync syncs as many records as the baseline managed
        results: dict[str, Any] = {
            "n": m,
            "pycrdt_websocket_version": metadata.version("pycrdt-websocket"),
            "pycrdt_websocket": base,
        }
        log(f"floor: pycrdt + SQLite, {m} records")
        results["floor"] = floor(m, root)
        results.update(await roamsync_syncs(root, m))
        rows = [("floor", results["floor"]["floor_s"])]
        rows += [(kind, results[kind]["seconds"]) for kind in ("memory", "ws", "tls")]
        for kind, seconds in rows:
            rate = m / seconds
            ratio = rate / base["records_per_s"]
            if kind != "floor":
                results[kind]["records_per_s"] = rate
                results[kind]["ratio_to_baseline"] = ratio
            else:
                results["floor"]["ratio_to_baseline"] = ratio
            log(f"  {kind:6s} {seconds:7.2f} s  {rate:7.0f} rec/s  {ratio:5.1f}x pycrdt-websocket")
        return results


if __name__ == "__main__":
    n = bench_n(DEFAULT_N)
    out = asyncio.run(main(n))
    report("baseline_pycrdt_websocket", {"machine": machine(), **out})
