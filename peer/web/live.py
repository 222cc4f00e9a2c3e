"""Live pages: an open list or record page learns within a second that what it shows
has changed, on this device or on any peer, over server-sent events (``/events``).

One :class:`Changes` task per web app follows the replica's change feed: woken by
every stored change (a local write or a merge), it waits a moment to gather a burst
(an initial sync stores hundreds of records a second), reads the ids and modules of
the records changed since it last looked (never their states) and tells each open
page whose module or record is among them. A page then fetches itself again
(``static/live.js``): the server stays the only place that renders.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from roamsync.peer.org.users import may_log_in
from roamsync.peer.replica.lines import PARENTS
from roamsync.peer.replica.peer import Peer
from roamsync.peer.web.base import NODE, SESSION, SESSIONS, TOKEN
from roamsync.schema import MODULES
from roamsync.schema.modules import SYSTEM_MODULES

GATHER = 0.2  # seconds a burst of changes is gathered before pages are told
HEARTBEAT = 10.0  # seconds between keep-alive comments; the session is checked at each
BATCH = 5_000  # changed rows read per query
PER_SESSION = 12  # streams one session may hold open (a browser keeps 6 per host)
STREAMS = 500  # streams the app holds open at most
SPACING = 0.7  # seconds at least between two events to one page (each costs it a fetch)


@dataclass(eq=False)
class Watch:
    """What one open page shows: a whole module's list, or one record (and its lines)."""

    module: str
    record: str | None = None
    news: asyncio.Queue[list[str]] = field(default_factory=asyncio.Queue)


class Changes:
    """Follows the change feed and tells each :class:`Watch` what changed for it."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.watches: set[Watch] = set()
        self.opened: Counter[str] = Counter()  # open streams per session token
        self.seq = peer.store.last_seq()

    async def run(self) -> None:
        feed = self.peer.changefeed
        woken = feed.listen()
        try:
            while True:
                await woken.wait()
                await asyncio.sleep(GATHER)
                woken.clear()
                self.tell()
        finally:
            feed.unlisten(woken)

    def tell(self) -> None:
        """Tell every watch whose module or record changed since the last look."""
        if not self.watches:
            self.seq = self.peer.store.last_seq()  # nobody looks: nothing to read
            return
        by_module: dict[str, list[str]] = {}
        while True:
            rows = self.peer.store.changed(self.seq, BATCH)
            for seq, rid, module in rows:
                by_module.setdefault(module, []).append(rid)
                self.seq = seq
            if len(rows) < BATCH:
                break
        parents: dict[str, object] = {}  # a changed line -> its quote or order, read once
        for watch in self.watches:
            ids = self._news(watch, by_module, parents)
            if ids:
                watch.news.put_nowait(ids)

    def _news(
        self, watch: Watch, by_module: dict[str, list[str]], parents: dict[str, object]
    ) -> list[str]:
        changed = by_module.get(watch.module, [])
        if watch.record is None:
            return changed
        mine = [rid for rid in changed if rid == watch.record]
        lines, parent = PARENTS.get(watch.module, ("", ""))
        for rid in by_module.get(lines, []):
            if rid not in parents:
                view = self.peer.records.view(rid)
                parents[rid] = view["fields"].get(parent) if view is not None else None
            if parents[rid] == watch.record:
                mine.append(rid)
        return mine


CHANGES = web.AppKey("changes", Changes)


async def follow_changes(app: web.Application) -> AsyncIterator[None]:
    """The app's :class:`Changes` task, from start-up to clean-up."""
    changes = Changes(app[NODE].peer)
    app[CHANGES] = changes
    task = asyncio.create_task(changes.run(), name="web-live-changes")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


routes = web.RouteTableDef()  # added by app.make_app


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """A page's stream of changes: ``?module=M`` (a list) or ``?module=M&record=ID``.
    Each event's data is the JSON list of changed record ids; the stream ends when the
    session does (logout, lock, idle: checked before every write). A session has at
    most ``PER_SESSION`` streams, the app ``STREAMS`` (429 beyond)."""
    module = request.query.get("module", "")
    if module not in MODULES or module in SYSTEM_MODULES:
        raise web.HTTPNotFound(text="no such module")
    record = request.query.get("record") or None
    changes = request.app[CHANGES]
    token = request[TOKEN]
    if len(changes.watches) >= STREAMS or changes.opened[token] >= PER_SESSION:
        raise web.HTTPTooManyRequests(text="too many open pages: close some")
    watch = Watch(module, record)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    changes.watches.add(watch)
    changes.opened[token] += 1
    node, sessions, email = request.app[NODE], request.app[SESSIONS], request[SESSION].email

    def alive() -> bool:
        return sessions.get(token, touch=False) is not None and may_log_in(node.peer, email)

    try:
        await response.write(b"retry: 2000\n\n")
        while alive():
            try:
                ids = await asyncio.wait_for(watch.news.get(), HEARTBEAT)
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            while not watch.news.empty():  # a burst: one event
                ids = ids + watch.news.get_nowait()
            if not alive():
                break  # locked or logged out while waiting: not one more event
            await response.write(b"event: change\ndata: " + orjson.dumps(ids[:200]) + b"\n\n")
            await asyncio.sleep(SPACING)  # an initial sync changes records all the time
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        changes.watches.discard(watch)
        changes.opened[token] -= 1
        if not changes.opened[token]:
            del changes.opened[token]
    return response
