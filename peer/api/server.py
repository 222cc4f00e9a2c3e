"""The daemon's local HTTP API, so the command line works while ``roamsync serve`` runs.

It listens on 127.0.0.1 only, on a port the system picks, and every request
must carry the token from ``DIR/daemon.json`` (readable by the owner only), so
only the user who runs the daemon can use it; ``/metrics`` too, unless the
daemon was started with ``--open-metrics``. Every request must also name the
daemon itself in its ``Host`` header (``127.0.0.1:PORT``, ``localhost:PORT``
or ``[::1]:PORT``), so a web page whose host name was rebound to 127.0.0.1
cannot read an answer. Each route runs one operation
of :mod:`roamsync.peer.ops` (the table is :mod:`.routes`), its arguments
checked against the operation's signature first. Errors come back as JSON
``{"error": "<RoamsyncError subclass>", "message": ..., "details": ...}`` with
the status :func:`roamsync.schema.errors.http_status` gives; a malformed body
is a 400 naming the argument, never a 500.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from roamsync.peer.api.routes import ROUTES, Route
from roamsync.peer.api.wire import to_json
from roamsync.peer.daemon.metrics import CONTENT_TYPE, render_metrics
from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import bind
from roamsync.peer.org.config import DAEMON
from roamsync.peer.store.files import write_atomically
from roamsync.schema import InvalidArgumentError, RequestError, RoamsyncError, UnauthorizedError
from roamsync.schema.errors import http_status

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METRICS_PATH = "/metrics"


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Api:
    """The routes over one node."""

    def __init__(self, node: Node, token: str, open_metrics: bool = False) -> None:
        self.node = node
        self.token = token
        self.open_metrics = open_metrics
        self.hosts: frozenset[str] = frozenset()  # set once the port is known (listen)

    def listen(self, port: int) -> None:
        self.hosts = frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        for route in ROUTES:
            app.router.add_route(route.method, route.pattern, self._handler(route))
        app.router.add_get(METRICS_PATH, self._metrics)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The host and the token first; then any error aiohttp itself answers (no such
        route or method, a body too large) as the API's JSON, not as text."""
        host = request.headers.get("Host", "")
        if host.lower() not in self.hosts:
            message = f"the Host header {host!r} does not name this daemon (127.0.0.1:PORT)"
            return _error(RequestError(message), 403)
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        scrape = request.path == METRICS_PATH and self.open_metrics
        if not scrape and not secrets.compare_digest(given, b"Bearer " + self.token.encode()):
            return _error(UnauthorizedError("this request does not carry the daemon's token"))
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(RequestError(exc.reason), exc.status)

    def _handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            try:
                args = bind(route.op, await _raw_args(route, request), text=route.method == "GET")
                result = await route.op(self.node, **args)
            except RoamsyncError as exc:
                return _error(exc)
            return _json(result, 200)

        return handle

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=render_metrics(self.node), headers={"Content-Type": CONTENT_TYPE})


async def _raw_args(route: Route, request: web.Request) -> dict[str, Any]:
    """The arguments a request gives: path, then the query (GET) or the JSON body."""
    args: dict[str, Any] = dict(request.match_info)
    if route.method == "GET":
        for name, value in request.query.items():
            if name in args:
                raise InvalidArgumentError(name, "is given twice")
            args[name] = value
        return args
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    except (web.HTTPException, RequestPayloadError, HttpProcessingError, ValueError) as exc:
        raise InvalidArgumentError("body", f"cannot be read: {exc}") from None
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgumentError("body", f"is not JSON: {exc}") from None
    if route.body is not None:
        args[route.body] = body
        return args
    if not isinstance(body, dict):
        raise InvalidArgumentError("body", "expects a JSON object of arguments")
    for name in body:
        if name in args:
            raise InvalidArgumentError(name, "is given twice")
    return args | body


def _error(exc: RoamsyncError, status: int | None = None) -> web.Response:
    return _json(exc.to_wire(), http_status(exc) if status is None else status)


def _json(value: Any, status: int) -> web.Response:
    return web.Response(body=to_json(value), status=status, content_type="application/json")


async def start_api(node: Node, open_metrics: bool = False) -> web.AppRunner:
    """Serve the API on 127.0.0.1 and write ``daemon.json`` for the command line;
    ``open_metrics``: Prometheus may scrape ``/metrics`` without the token."""
    token = secrets.token_urlsafe(24)
    api = Api(node, token, open_metrics)
    runner = web.AppRunner(api.app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.listen(port)
    info = {"port": port, "token": token, "pid": os.getpid(), "sync_port": node.port}
    write_atomically(node.folder / DAEMON, orjson.dumps(info), mode=0o600)
    return runner
