"""The web pages at scale (issue 14, 9): a list page with a search under 100 ms server
time at p95 with N contacts; 50 logged-in users browsing while an initial sync of N runs
into the same peer, p95 under 500 ms.

    .venv/bin/python bench/web.py [N]       (default N: ROAMSYNC_BENCH_N, else 100000)

Every request goes through the real web app (``make_app``: the guard, the session in
the store, the operations layer, the template) on an aiohttp ``TestServer`` at
127.0.0.1, logged in. **Server time** is from the request entering the app (a
middleware put before the guard) to its response leaving it; the client's time, what the
user waits for (queueing included), is reported beside it.

1. **Quiet**: main (a started Node) holds N contacts (bench/search.py's names, e-mails,
   cities and notes). One client asks, one request at a time, REQUESTS times each: list
   page 1, a page in the middle, the last page, and a search (bench/search.py's queries).
   Side by side in the same run, the whole-module list the way ``record_list`` made it
   before server-side paging (``ops.list_records``: every record loaded, sorted in
   Python, a page sliced out; a route this script adds), WHOLE_REQUESTS times.
2. **Browsing during an initial sync**: an office device that was enrolled and then
   made N contacts of its own while stopped is started, as a ``roamsync serve``
   process of its own; its first sync sends them to main (and main's N to it). From
   its start until main holds all 2N, USERS
   clients, each logged in as its own user, browse main's pages one request after
   another with a random pause up to THINK seconds (5, or ``ROAMSYNC_BENCH_WEB_THINK``):
   a list page (a random page and order), a search, a record page, drawn at random.
   The users run in a process of their own (``web.py --crowd``), as browsers do: not
   in main's event loop (until 2026-12-03 they ran in it, which counted their own work
   as main's queueing). p50, p95, p99 per kind and in all, how long the sync took, and
   how late main's event loop ran (a 10 ms sleep's lateness).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_jinja2
from aiohttp import web
from aiohttp.test_utils import TestServer
from benchlib import Company, bench_n, log, machine, percentile, report
from search import contact, queries

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.replica.bulk import create_many
from roamsync.peer.web.app import PAGE, make_app
from roamsync.peer.web.base import NODE, context
from roamsync.schema import get_module

REQUESTS = 200  # per figure of the quiet part
WHOLE_REQUESTS = 15  # per figure of the whole-module list (a second or more each at 100k)
USERS = 50
# seconds: each user pauses up to this long (uniformly, 2.5 s on average) between two
# requests, reading the page; ROAMSYNC_BENCH_WEB_THINK=1 is a heavier crowd
THINK = float(os.environ.get("ROAMSYNC_BENCH_WEB_THINK", "5"))
PASSWORD = "benchmark password"
SERVER_MS = "X-Bench-Server-Ms"
ROAMSYNC = [sys.executable, "-c", "from roamsync.peer.cli import entry; entry()"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Server time: the whole app, guard and session included, in a response header."""
    t0 = time.perf_counter()
    response = await handler(request)
    response.headers[SERVER_MS] = f"{(time.perf_counter() - t0) * 1000:.3f}"
    return response


@aiohttp_jinja2.template("list.html")
async def whole_module_list(request: web.Request) -> dict[str, Any]:
    """The list page as ``record_list`` made it before server-side paging: every record
    of the module loaded and sorted (``ops.list_records``), then a page sliced out."""
    node = request.app[NODE]
    module = request.match_info["module"]
    page = int(request.query.get("page", "1"))
    records = await ops.list_records(node, module, labels=True)
    shown = records[(page - 1) * PAGE : page * PAGE]
    fields = get_module(module).fields.items()
    columns = ["id", *(name for name, f in fields if f.type.value != "note")]
    return context(
        request,
        module=module,
        records=shown,
        columns=columns,
        q="",
        page=page,
        more=len(records) > page * PAGE,
        total=len(records),
        pages=-(-len(records) // PAGE),
        first=(page - 1) * PAGE + 1,
        sort="key",
        descending=False,
        by="name",
    )


def bench_app(node: Node) -> web.Application:
    app = make_app(node)
    app.middlewares.insert(0, timed)
    app.router.add_get("/bench/whole/{module}", whole_module_list)
    return app


class Client:
    """One logged-in user: a cookie jar of their own, and the times of their requests."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        self.http = aiohttp.ClientSession(base_url=self.base, cookie_jar=jar)
        self.times: dict[str, list[tuple[float, float]]] = {}  # kind -> (server, client) ms

    async def login(self, email: str) -> None:
        page = await (await self.http.get("/login")).text()
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"email": email, "password": PASSWORD, "csrf": token}
        headers = {"Origin": self.base}
        response = await self.http.post("/login", data=form, headers=headers, allow_redirects=False)
        assert response.status == 302, await response.text()

    async def get(self, kind: str, path: str, **query: str) -> None:
        t0 = time.perf_counter()
        async with self.http.get(path, params=query, allow_redirects=False) as response:
            await response.read()
            took = (time.perf_counter() - t0) * 1000
            assert response.status == 200, (path, query, response.status)
            server = float(response.headers[SERVER_MS])
        self.times.setdefault(kind, []).append((server, took))

    async def close(self) -> None:
        await self.http.close()


def stats(pairs: list[tuple[float, float]]) -> dict[str, float]:
    server = [s for s, _ in pairs]
    client = [c for _, c in pairs]
    return {
        "requests": len(pairs),
        "server_p50_ms": percentile(server, 50),
        "server_p95_ms": percentile(server, 95),
        "server_p99_ms": percentile(server, 99),
        "server_max_ms": max(server),
        "server_mean_ms": sum(server) / len(server),
        "client_p50_ms": percentile(client, 50),
        "client_p95_ms": percentile(client, 95),
    }


def show(name: str, s: dict[str, float]) -> None:
    log(
        f"  {name:28s} n={s['requests']:5.0f}  server p50 {s['server_p50_ms']:7.1f}  "
        f"p95 {s['server_p95_ms']:7.1f}  p99 {s['server_p99_ms']:7.1f}  max "
        f"{s['server_max_ms']:7.1f} ms   client p50 {s['client_p50_ms']:7.1f}  "
        f"p95 {s['client_p95_ms']:7.1f} ms"
    )


async def add_users(node: Node, count: int) -> list[str]:
    emails = [f"user{i}@bench.no" for i in range(count)]
    for email in emails:
        code = await users.invite(node.peer, email, "office")
        await users.accept(node.peer, code, PASSWORD)
    return emails


async def quiet(server: TestServer, n: int, rng: random.Random) -> dict[str, Any]:
    client = Client(str(server.make_url("/")))
    await client.login("user0@bench.no")
    last = -(-n // PAGE)
    plan = [
        ("list page 1", "/records/contacts", {}, REQUESTS),
        ("list middle page", "/records/contacts", {"page": str(last // 2)}, REQUESTS),
        ("list last page", "/records/contacts", {"page": str(last)}, REQUESTS),
        ("list last page, reversed", "/records/contacts", {"page": str(last), "order": "desc"}, 50),
        ("list, last changed first", "/records/contacts", {"sort": "changed", "order": "desc"}, 50),
        ("whole-module list, page 1", "/bench/whole/contacts", {}, WHOLE_REQUESTS),
        ("whole-module list, last page", "/bench/whole/contacts", {"page": str(last)}, 5),
    ]
    for _ in range(20):  # warm-up, not counted
        await client.get("warm-up", "/records/contacts", page=str(rng.randint(1, last)))
    for name, path, query, count in plan:
        for _ in range(count):
            await client.get(name, path, **query)
    for text in queries(rng, REQUESTS):
        await client.get("list with a search", "/records/contacts", q=text)
    await client.close()
    out = {name: stats(pairs) for name, pairs in client.times.items() if name != "warm-up"}
    for name, s in out.items():
        show(name, s)
    return out


async def browse(client: Client, ids: list[str], pages: int, rng: random.Random) -> None:
    words = queries(rng, 1000)
    orders = [{}, {"order": "desc"}, {"sort": "changed", "order": "desc"}]
    while True:
        kind = rng.random()
        if kind < 0.4:
            query = {**rng.choice(orders), "page": str(rng.randint(1, pages))}
            await client.get("list page", "/records/contacts", **query)
        elif kind < 0.7:
            await client.get("list with a search", "/records/contacts", q=rng.choice(words))
        else:
            await client.get("record page", f"/records/contacts/{rng.choice(ids)}")
        await asyncio.sleep(rng.random() * THINK)


async def watch_loop(lags: list[float]) -> None:
    """How late a 10 ms sleep wakes up: how long others held the event loop."""
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((time.perf_counter() - t0) * 1000 - 10)


async def crowd(spec: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """The users, in a process of their own (``web.py --crowd``: their browsers are not in
    main's event loop): each logs in, says so, browses until told to stop; their times."""
    clients = [Client(spec["url"]) for _ in spec["emails"]]
    for client, email in zip(clients, spec["emails"], strict=True):
        await client.login(email)
    tasks = [
        asyncio.ensure_future(browse(c, spec["ids"], spec["pages"], random.Random(i)))
        for i, c in enumerate(clients)
    ]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "stop", or the end of the pipe
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for client in clients:
        await client.close()
    merged: dict[str, list[tuple[float, float]]] = {}
    for client in clients:
        for kind, pairs in client.times.items():
            merged.setdefault(kind, []).extend(pairs)
    return merged


async def during_sync(
    company: Company, hq: Node, server: TestServer, emails: list[str], ids: list[str], n: int
) -> dict[str, Any]:
    rng = random.Random(14)
    folder = await company.enrol(hq, "office")
    office = await Node.open(folder)
    try:
        t0 = time.perf_counter()
        await create_many(office.peer, "contacts", [(None, contact(rng, n + i)) for i in range(n)])
        log(f"  the office made {n} contacts while stopped ({time.perf_counter() - t0:.0f} s)")
    finally:
        await office.stop()
    spec = {"url": str(server.make_url("/")), "emails": emails, "ids": ids, "pages": -(-n // PAGE)}
    users = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--crowd", stdin=PIPE, stdout=PIPE
    )
    assert users.stdin is not None
    assert users.stdout is not None
    users.stdin.write(json.dumps(spec).encode() + b"\n")
    async with asyncio.timeout(300):  # 50 logins (Argon2 on main)
        assert (await users.stdout.readline()).strip() == b"ready", "the users did not log in"
    lags: list[float] = []
    watch = asyncio.ensure_future(watch_loop(lags))
    t0 = time.perf_counter()
    # the office is another device: its own `roamsync serve` process, as in use
    command = [*ROAMSYNC, "serve", str(folder), "--no-discovery"]
    with (folder / "serve.log").open("w") as serve_log:
        proc = await asyncio.create_subprocess_exec(*command, stdout=serve_log, stderr=serve_log)
        try:
            async with asyncio.timeout(max(600.0, n / 50)):
                # the count (a query) only once the change feed is long enough
                while hq.peer.last_seq() < 2 * n or hq.peer.count("contacts") < 2 * n:
                    if proc.returncode is not None or users.returncode is not None:
                        break  # the office or the users failed
                    await asyncio.sleep(0.25)
        finally:
            took = time.perf_counter() - t0
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            users.stdin.write(b"stop\n")
            async with asyncio.timeout(60):
                answer = await users.stdout.read()
                await users.wait()
    if hq.peer.count("contacts") < 2 * n:
        raise RuntimeError(f"the sync did not finish: see {folder / 'serve.log'}")
    log(f"  the initial sync took {took:.1f} s with {len(emails)} users browsing")
    merged: dict[str, list[tuple[float, float]]] = json.loads(answer)
    out: dict[str, Any] = {name: stats(pairs) for name, pairs in merged.items()}
    out["all"] = stats([p for pairs in merged.values() for p in pairs])
    for name, s in out.items():
        show(name, s)
    out["sync_s"] = took
    out["users"] = len(emails)
    busy = sum(server for pairs in merged.values() for server, _ in pairs) / 1000
    out["web_share_of_loop"] = busy / took  # the event loop's time spent in page requests
    out["loop_lag_ms"] = {
        "p50": percentile(lags, 50),
        "p95": percentile(lags, 95),
        "p99": percentile(lags, 99),
        "max": max(lags),
    }
    log(
        f"  page requests took {busy:.1f} s of the {took:.1f} s (wall time, overlapping); "
        f"main's loop lag (a 10 ms sleep's lateness) p50 {out['loop_lag_ms']['p50']:.0f}, p95 "
        f"{out['loop_lag_ms']['p95']:.0f}, max {out['loop_lag_ms']['max']:.0f} ms"
    )
    return out


async def run(n: int) -> dict[str, Any]:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="roamsync-web-") as tmp:
        company = Company(Path(tmp))
        try:
            hq = await company.main("hq")
            t0 = time.perf_counter()
            ids = await create_many(
                hq.peer, "contacts", [(None, contact(rng, i)) for i in range(n)]
            )
            log(f"main made {n} contacts ({time.perf_counter() - t0:.0f} s)")
            emails = await add_users(hq, USERS)
            server = TestServer(bench_app(hq), host="127.0.0.1")
            await server.start_server()
            try:
                log(f"quiet: one user, {REQUESTS} requests per figure")
                calm = await quiet(server, n, rng)
                log(f"{USERS} users browsing while an office's initial sync of {n} runs into main")
                busy = await during_sync(company, hq, server, emails, ids, n)
            finally:
                await server.close()
        finally:
            await company.stop()
    search = calm["list with a search"]
    result = {
        "n": n,
        "page": PAGE,
        "think_s": THINK,
        "quiet": calm,
        "during_sync": busy,
        "target_search_p95_lt_100ms": search["server_p95_ms"] < 100,
        "target_busy_p95_lt_500ms": busy["all"]["client_p95_ms"] < 500,  # as users wait
    }
    return result


if __name__ == "__main__" and sys.argv[1:] == ["--crowd"]:
    times = asyncio.run(crowd(json.loads(sys.stdin.readline())))
    sys.stdout.write(json.dumps(times))
elif __name__ == "__main__":
    n = bench_n()
    out = asyncio.run(run(n))
    report("web", {"machine": machine(), **out})
