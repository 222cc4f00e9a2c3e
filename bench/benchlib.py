"""Shared helpers for the benchmark scripts in this folder (not a benchmark itself).

Every script prints what it measures as it goes and ends with one line
``BENCH-JSON {...}`` that ``bench/run_all.py`` collects into ``bench/results.json``.
Everything listens and dials on 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from roamsync.peer import Peer, RecordId
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry
from roamsync.peer.org.config import load_config
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.transport import tls
from roamsync.transport.channel import Channel
from roamsync.transport.session import Session
from roamsync.transport.websocket import SYNC_PATH, accept, connect

DEFAULT_N = 100_000
COMPANY = "bench"
# what main's company profile needs before it may enrol devices (peer/org/company.py)
PROFILE = {
    "address": "Storgata 1, 0155 Oslo",
    "phone": "+47 22 00 00 00",
    "email": "post@bench.no",
    "org_number": "912 345 678",
}


def bench_n(default: int = DEFAULT_N) -> int:
    """N from the command line, else ROAMSYNC_BENCH_N, else ``default``."""
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        return int(sys.argv[1])
    return int(os.environ.get("ROAMSYNC_BENCH_N", default))


def contact(i: int) -> dict[str, str]:
    """The six-field contact record the floor and every benchmark use."""
    return {
        "name": f"Company {i} AS",
        "email": f"post{i}@company{i}.no",
        "phone": f"+47 {i:08d}",
        "address": f"Storgata {i % 500 + 1}, {i % 9000 + 1000} Oslo",
        "org_number": f"{900_000_000 + i}",
        "kind": "company",
    }


async def fill(peer: Peer, n: int, start: int = 0, label: str = "") -> list[RecordId]:
    """Create contacts ``start .. start+n-1`` on ``peer`` with Peer.create (one commit each)."""
    ids: list[RecordId] = []
    t0 = time.perf_counter()
    for i in range(start, start + n):
        ids.append(await peer.create("contacts", contact(i)))
        if (i - start + 1) % 20_000 == 0:
            log(f"  {label}created {i - start + 1}/{n} ({time.perf_counter() - t0:.0f} s)")
    dt = time.perf_counter() - t0
    log(f"  {label}setup: Peer.create x {n} in {dt:.1f} s ({n / dt:.0f}/s)")
    return ids


def main_with_n(run: Callable[[int], Coroutine[Any, Any, dict[str, Any]]], n: int) -> None:
    """``script.py [N] [--json FILE]``: ``run(N)`` (default ``n``), its result also written
    to FILE as JSON."""
    args = sys.argv[1:]
    out = None
    if "--json" in args:
        at = args.index("--json")
        out = Path(args[at + 1])
        del args[at : at + 2]
    result = asyncio.run(run(int(args[0]) if args else n))
    if out is not None:
        out.write_text(json.dumps(result) + "\n")


def log(text: str) -> None:
    print(text, flush=True)


def report(name: str, data: dict[str, Any]) -> None:
    print("BENCH-JSON " + json.dumps({"bench": name, **data}), flush=True)


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process (this one), in MB, from /proc/PID/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for dist in ("pycrdt", "aiohttp", "orjson", "cryptography"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    import sqlite3

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        **versions,
    }


async def until(condition: Callable[[], bool], limit: float, poll: float = 0.001) -> float:
    """Poll ``condition`` (bounded by ``limit`` seconds); the seconds it took."""
    t0 = time.perf_counter()
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (the state spans several peers)
            await asyncio.sleep(poll)
    return time.perf_counter() - t0


async def until_count(peer: Peer, module: str, n: int, limit: float) -> float:
    """Wait on ``peer.listen()`` until ``peer.count(module) >= n``; the seconds it took.

    The count (a SQL query) is only asked once the change feed is long enough.
    """
    t0 = time.perf_counter()
    event = peer.listen()
    try:
        async with asyncio.timeout(limit):
            while True:
                event.clear()
                if peer.last_seq() >= n and peer.count(module) >= n:
                    return time.perf_counter() - t0
                await event.wait()
    finally:
        peer.unlisten(event)


# -- websocket channels on 127.0.0.1, with or without TLS ------------------------------


class WsServer:
    """An aiohttp server at /sync handing accepted channels to ``pair()``."""

    def __init__(
        self,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.accepted: asyncio.Queue[Channel] = asyncio.Queue()
        self.done = asyncio.Event()
        self.opened: list[Channel] = []

    async def __aenter__(self) -> WsServer:
        async def handler(req: web.Request) -> web.StreamResponse:
            channel = await accept(req)
            await self.accepted.put(channel)
            await self.done.wait()  # keep the socket until the channel is closed
            await channel.close()
            assert isinstance(channel.ws, web.WebSocketResponse)  # accept() made it
            return channel.ws

        app = web.Application()
        app.router.add_get(SYNC_PATH, handler)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.server_ssl)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self.http = aiohttp.ClientSession()
        return self

    async def pair(self) -> tuple[Channel, Channel]:
        scheme = "http" if self.client_ssl is None else "https"
        near = await connect(
            self.http, f"{scheme}://127.0.0.1:{self.port}{SYNC_PATH}", self.client_ssl
        )
        far = await asyncio.wait_for(self.accepted.get(), 10)
        self.opened.extend([near, far])
        return near, far

    async def __aexit__(self, *exc: object) -> None:
        self.done.set()
        for channel in self.opened:
            await channel.close()
        await self.http.close()
        await self.runner.cleanup()


def tls_contexts(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server and a client mTLS context for two fresh device identities."""
    server = tls.create_identity(folder / "server-tls", "server")
    client = tls.create_identity(folder / "client-tls", "client")
    return (
        tls.server_context(server, [client.cert_pem]),
        tls.client_context(client, [server.cert_pem]),
    )


class Pair:
    """Two sessions over one channel pair, running as tasks."""

    def __init__(self, a: Peer, b: Peer, near: Channel, far: Channel, **options: Any) -> None:
        self.sa = Session(a, near, company=COMPANY, **options)
        self.sb = Session(b, far, company=COMPANY, **options)
        self.tasks = [asyncio.ensure_future(self.sa.run()), asyncio.ensure_future(self.sb.run())]

    async def ready(self) -> None:
        await asyncio.wait_for(asyncio.gather(self.sa.ready.wait(), self.sb.ready.wait()), 10)

    async def close(self) -> None:
        await self.sa.channel.close()
        await self.sb.channel.close()
        done, pending = await asyncio.wait(self.tasks, timeout=10)
        for task in pending:
            task.cancel()
        for task in [*done, *pending]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@contextlib.asynccontextmanager
async def session_pair(server: WsServer, a: Peer, b: Peer, **options: Any) -> AsyncIterator[Pair]:
    near, far = await server.pair()
    pair = Pair(a, b, near, far, **options)
    try:
        yield pair
    finally:
        await pair.close()


# -- a company of Nodes (mTLS, registry, enrolment) on 127.0.0.1 -----------------------


class Company:
    """A main node plus joined devices, each in its own folder under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"Bench {uuid.uuid4().hex[:6]}"
        self.nodes: list[Node] = []

    async def start(self, folder: Path) -> Node:
        node = await Node.open(folder)
        await node.start(discovery=False)
        self.nodes.append(node)
        return node

    async def main(self, name: str = "hq") -> Node:
        await init_directory(
            self.root / name,
            name=name,
            role="main",
            company_name=self.name,
            port=0,
            discovery=False,
            profile=PROFILE,
        )
        return await self.start(self.root / name)

    async def enrol(self, hq: Node, name: str, role: str = "office") -> Path:
        """Init and join a device (not started yet); returns its folder."""
        folder = self.root / name
        await init_directory(
            folder, name=name, role=role, company_name=self.name, port=0, discovery=False
        )
        code = registry.invite(hq.peer, hq.identity.fingerprint, role)
        await join_company(folder, code, f"127.0.0.1:{hq.port}")
        assert load_config(folder).enrolled
        return folder

    async def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.stop()
        self.nodes.clear()
