"""The daemon's local HTTP API, so ``roamsync put/get/...`` work while ``serve`` runs.

It listens on 127.0.0.1 only, on a port the system picks, and every request
must carry the token from ``DIR/daemon.json`` (readable by the owner only),
so only the user who runs the daemon can use it. Errors come back as JSON
``{"error": "<RoamsyncError subclass>", "message": ...}`` and are raised again
on the client side as the same class.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from roamsync import schema
from roamsync.peer import company, journal, registry
from roamsync.peer.config import DAEMON, write_atomically
from roamsync.peer.metrics import CONTENT_TYPE, render_metrics
from roamsync.peer.node import Node
from roamsync.schema import RoamsyncError

Handler = Callable[[web.Request], Awaitable[Any]]
METRICS_PATH = "/metrics"


def to_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date):
        return str(value)
    raise TypeError


def _status_code(exc: RoamsyncError) -> int:
    if isinstance(exc, schema.RecordNotFoundError | schema.ConflictNotFoundError):
        return 404
    if isinstance(exc, schema.PermissionDeniedError):
        return 403
    return 400


def node_status(node: Node) -> dict[str, Any]:
    """What ``roamsync status`` shows."""
    peers = []
    for state in node.states.values():
        stats = state.session.stats if state.session is not None else None
        peers.append(
            {
                "device": state.device,
                "connected": state.session is not None,
                "address": state.address,
                "since": state.connected_since,
                "last_seen": state.last_seen,
                "last_error": state.last_error,
                "behind": node.peer.last_seq() - node.peer.checkpoint(state.device),
                "records_in": stats.records_in if stats else 0,
                "records_out": stats.records_out if stats else 0,
            }
        )
    health, reason = _health(node, peers)
    return {
        "device": node.peer.device,
        "name": node.config.name,
        "role": node.peer.role,
        "company": node.config.company_name,
        "port": node.port,
        "changes": node.peer.last_seq(),
        "offline_since": node.config.offline_since or None,
        "health": health,
        "reason": reason,
        "last_error": node.last_error,
        "peers": peers,
    }


def _health(node: Node, peers: list[dict[str, Any]]) -> tuple[str, str]:
    """Green: connected and caught up. Yellow: working offline, alone, or catching up.
    Red: no peer connected and the last attempt failed."""
    connected = [p for p in peers if p["connected"]]
    if node.config.offline:
        return "yellow", f"working offline since {node.config.offline_since}"
    if not connected:
        if node.last_error:
            return "red", f"no peer connected; last error: {node.last_error}"
        return "yellow", "no peer connected"
    behind = [p["device"] for p in connected if p["behind"] > 0]
    if behind:
        return "yellow", "catching up with " + ", ".join(behind)
    return "green", f"in sync with {len(connected)} peer(s)"


def device_rows(node: Node) -> list[dict[str, Any]]:
    """The registry with who is online now and when each was last seen."""
    rows = []
    for entry in registry.devices(node.peer):
        state = node.states.get(entry.device)
        online = entry.device == node.peer.device or (
            state is not None and state.session is not None
        )
        last_seen = state.last_seen if state is not None else None
        offline_since = _offline_since(node, entry.device)
        rows.append(
            {
                "device": entry.device,
                "name": entry.name,
                "role": entry.role,
                "status": entry.status,
                "online": online and offline_since is None,
                "offline_since": offline_since,
                "last_seen": time.time() if online else last_seen,
            }
        )
    return rows


def _offline_since(node: Node, device: str) -> str | None:
    """When the device checked out, from its replicated status record; None if online."""
    if node.peer.store.view(f"status-{device}") is None:
        return None
    status = node.peer.get("device_status", f"status-{device}")
    return str(status["since"]) if status["offline"] else None


def conflict_rows(node: Node) -> list[dict[str, Any]]:
    """The conflict log, each writer also named as the registry names it."""
    names = {e.device: e.name for e in registry.devices(node.peer)}
    rows = []
    for conflict in node.peer.conflicts():
        row = dict(conflict.__dict__)
        for version in [*row["values"], row["winner"]]:
            version["name"] = names.get(version["device"], version["device"])
        rows.append(row)
    return rows


def company_info(node: Node) -> dict[str, Any]:
    return {"profile": company.profile(node.peer), "missing": company.missing(node.peer)}


async def resolve(node: Node, body: dict[str, Any]) -> dict[str, Any]:
    """Settle one pending conflict by hand: ``pick`` a listed value or give a ``value``."""
    record, field = str(body["record"]), str(body["field"])
    module = node.peer.module_of(record)
    pick = body.get("pick")
    await node.peer.resolve(
        module, record, field, pick=None if pick is None else int(pick), value=body.get("value")
    )
    return node.peer.get(module, record)


class Api:
    """Routes over one node."""

    def __init__(self, node: Node, token: str) -> None:
        self.node = node
        self.token = token

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/api/status", self._wrap(lambda req: node_status(self.node)))
        r.add_get("/api/devices", self._wrap(lambda req: device_rows(self.node)))
        r.add_get("/api/conflicts", self._wrap(self._conflicts))
        r.add_get("/api/records/{module}", self._wrap(self._list))
        r.add_get("/api/records/{module}/{id}", self._wrap(self._get))
        r.add_post("/api/records/{module}", self._wrap(self._create))
        r.add_patch("/api/records/{module}/{id}", self._wrap(self._update))
        r.add_delete("/api/records/{module}/{id}", self._wrap(self._delete))
        r.add_post("/api/invite", self._wrap(self._invite))
        r.add_post("/api/offline", self._wrap(self._offline))
        r.add_post("/api/online", self._wrap(self._online))
        r.add_post("/api/resolve", self._wrap(self._resolve))
        r.add_get("/api/log", self._wrap(lambda req: journal.sync_log(self.node.peer)))
        r.add_get("/api/history", self._wrap(lambda req: journal.history(self.node.peer)))
        r.add_get("/api/company", self._wrap(lambda req: company_info(self.node)))
        r.add_post("/api/company", self._wrap(self._company))
        r.add_post("/api/disconnect", self._wrap(self._disconnect))
        r.add_get(METRICS_PATH, self._metrics)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        scrape = request.path == METRICS_PATH  # Prometheus scrapes without the token; loopback only
        if not scrape and not secrets.compare_digest(given, f"Bearer {self.token}"):
            return web.json_response({"error": "Unauthorized", "message": "bad token"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    def _wrap(self, fn: Callable[[web.Request], Any]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            try:
                result = fn(request)
                if hasattr(result, "__await__"):
                    result = await result
            except RoamsyncError as exc:
                body = {"error": type(exc).__name__, "message": str(exc)}
                return web.Response(
                    body=to_json(body), status=_status_code(exc), content_type="application/json"
                )
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                body = {"error": "SchemaError", "message": f"malformed request: {exc}"}
                return web.Response(body=to_json(body), status=400, content_type="application/json")
            return web.Response(body=to_json(result), content_type="application/json")

        return handler

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=render_metrics(self.node), headers={"Content-Type": CONTENT_TYPE})

    def _list(self, request: web.Request) -> Any:
        return self.node.peer.list(request.match_info["module"])

    def _get(self, request: web.Request) -> Any:
        return self.node.peer.get(request.match_info["module"], request.match_info["id"])

    def _conflicts(self, request: web.Request) -> Any:
        return conflict_rows(self.node)

    async def _create(self, request: web.Request) -> Any:
        fields = orjson.loads(await request.read())
        return {"id": await self.node.peer.create(request.match_info["module"], fields)}

    async def _update(self, request: web.Request) -> Any:
        fields = orjson.loads(await request.read())
        module, record = request.match_info["module"], request.match_info["id"]
        await self.node.peer.update(module, record, fields)
        return {"id": record}

    async def _delete(self, request: web.Request) -> Any:
        await self.node.peer.delete(request.match_info["module"], request.match_info["id"])
        return {"id": request.match_info["id"]}

    async def _invite(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        ttl = float(body.get("ttl", registry.DEFAULT_TTL))
        company.check_criteria(self.node.peer)
        code = registry.invite(self.node.peer, self.node.identity.fingerprint, body["role"], ttl)
        return {"code": code}

    async def _offline(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        within = float(body.get("within", 30.0))
        return await self.node.check_out(within, force=bool(body.get("force")))

    async def _online(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        return await self.node.check_in(
            str(body.get("policy", "central")), float(body.get("within", 30.0))
        )

    async def _resolve(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        return await resolve(self.node, body)

    async def _company(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        await company.set_profile(self.node.peer, body)
        return company_info(self.node)

    async def _disconnect(self, request: web.Request) -> Any:
        body = orjson.loads(await request.read())
        entry = await registry.revoke(self.node.peer, str(body["device"]))
        return {"device": entry.device, "name": entry.name, "status": entry.status}


async def start_api(node: Node) -> web.AppRunner:
    """Serve the API on 127.0.0.1 and write ``daemon.json`` for the CLI."""
    token = secrets.token_urlsafe(24)
    runner = web.AppRunner(Api(node, token).app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    info = {"port": port, "token": token, "pid": os.getpid(), "sync_port": node.port}
    write_atomically(node.folder / DAEMON, orjson.dumps(info), mode=0o600)
    return runner


def daemon_info(folder: Path) -> dict[str, Any] | None:
    """The running daemon's API address and token, if one is running on ``folder``."""
    try:
        info: dict[str, Any] = orjson.loads((folder / DAEMON).read_bytes())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return info


class ApiClient:
    """Calls the daemon's API; raises the same RoamsyncError subclasses the daemon raised."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.base = f"http://127.0.0.1:{info['port']}/api"
        self.headers = {"Authorization": f"Bearer {info['token']}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else to_json(body)
        try:
            async with (
                aiohttp.ClientSession(headers=self.headers) as http,
                http.request(method, self.base + path, data=data) as resp,
            ):
                payload = orjson.loads(await resp.read())
        except aiohttp.ClientError as exc:
            raise RoamsyncError(f"the daemon's API did not answer: {exc}") from exc
        if resp.status >= 400:
            error = getattr(schema, str(payload.get("error")), None)
            cls = (
                error
                if isinstance(error, type) and issubclass(error, RoamsyncError)
                else RoamsyncError
            )
            raise _rebuild(cls, str(payload.get("message")))
        return payload


def _rebuild(cls: type[RoamsyncError], message: str) -> RoamsyncError:
    """The same error class as on the daemon; constructors differ, so set the message."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    return exc
