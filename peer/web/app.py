"""The web pages (``roamsync serve DIR --web``): login, accepting an invitation, the
dashboard and one list per module, server-rendered with autoescaped Jinja2 templates.

Every request passes :func:`guard`: the ``Host`` must be this server's own (a
DNS-rebinding page gets nothing), and a ``POST`` must come from this origin
(``Origin``, else ``Referer``) and carry the CSRF token of its session (or, for the
login and accept forms, of its ``csrf`` cookie). Pages other than login and accept
need a session (:mod:`.sessions`); without one they redirect to the login page and
show no data. Reads go through the operations layer, as the CLI's do.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.web import people, records
from roamsync.peer.web.base import FORM, NODE, SESSION, SESSIONS, context
from roamsync.peer.web.sessions import WebSessions
from roamsync.schema import MODULES, RoamsyncError, get_module
from roamsync.schema.modules import SYSTEM_MODULES

COOKIE = "roamsync_session"
CSRF_COOKIE = "roamsync_csrf"
PAGE = 50  # records per list page
FAILURE_DELAY = 0.5  # seconds every failed login waits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


routes = web.RouteTableDef()


def make_app(node: Node, sessions: WebSessions | None = None) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[NODE] = node
    app[SESSIONS] = sessions or WebSessions(node.peer)
    loader = jinja2.PackageLoader("roamsync.peer.web", "templates")
    aiohttp_jinja2.setup(app, loader=loader, autoescape=jinja2.select_autoescape(default=True))
    app.add_routes(routes)
    app.add_routes(records.routes)
    app.add_routes(people.routes)
    return app


def _same_origin(request: web.Request) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return bool(source) and urlsplit(source).netloc == request.host


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    host = request.host.rsplit(":", 1)[0] if request.host else ""
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise web.HTTPForbidden(text="this page is served to this computer only")
    open_page = request.path == "/login" or request.path.startswith("/accept/")
    sessions = request.app[SESSIONS]
    token = request.cookies.get(COOKIE)
    session = sessions.get(token)
    if session is not None and not users.may_log_in(request.app[NODE].peer, session.email):
        sessions.end(token or "")  # locked or disabled since: the session ends now
        session = None
    if session is not None:
        request[SESSION] = session
    if request.method == "POST":
        form = await request.post()
        expected = session.csrf if session and not open_page else request.cookies.get(CSRF_COOKIE)
        given = str(form.get("csrf", ""))
        if not _same_origin(request) or not expected or not hmac.compare_digest(given, expected):
            raise web.HTTPForbidden(text="refused: the form did not come from this page")
        request[FORM] = form
    if session is None and not open_page:
        raise web.HTTPFound("/login")
    return await handler(request)


def _with_csrf_cookie(request: web.Request, page: str, context: dict[str, Any]) -> web.Response:
    """A login or accept form, with a fresh CSRF token in its cookie and the form."""
    token = secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(page, request, {**context, "csrf": token})
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return _with_csrf_cookie(request, "login.html", {"error": None})


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = request[FORM]
    node = request.app[NODE]
    user = await users.authenticate(
        node.peer, str(form.get("email", "")), str(form.get("password", ""))
    )
    if user is None:
        await asyncio.sleep(FAILURE_DELAY)
        error = "Wrong e-mail or password, or the account is locked."
        return _with_csrf_cookie(request, "login.html", {"error": error})
    response = web.HTTPFound("/")
    token = request.app[SESSIONS].start(user.email)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].end(request.cookies.get(COOKIE, ""))
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


@routes.get("/accept/{code}")
async def accept_page(request: web.Request) -> web.Response:
    return _with_csrf_cookie(request, "accept.html", {"error": None})


@routes.post("/accept/{code}")
async def accept(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    password = str(form.get("password", ""))
    if password != str(form.get("again", "")):
        return _with_csrf_cookie(request, "accept.html", {"error": "The passwords differ."})
    try:
        await users.accept(request.app[NODE].peer, request.match_info["code"], password)
    except RoamsyncError as exc:
        return _with_csrf_cookie(request, "accept.html", {"error": str(exc)})
    raise web.HTTPFound("/login")


@routes.get("/")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    node = request.app[NODE]
    status = await ops.status(node)
    counts = {m: node.peer.count(m) for m in MODULES if m not in SYSTEM_MODULES}
    log = (await ops.log(node))[:20]
    devices = await ops.devices(node)
    return context(request, status=status, counts=counts, log=log, devices=devices)


@routes.get("/records/{module}")
@aiohttp_jinja2.template("list.html")
async def record_list(request: web.Request) -> dict[str, Any]:
    node = request.app[NODE]
    module = request.match_info["module"]
    if module in SYSTEM_MODULES or module not in MODULES:
        raise web.HTTPNotFound(text="no such module")
    text = request.query.get("q", "").strip()[:200]
    page = max(
        int(request.query.get("page", "1")) if request.query.get("page", "1").isdigit() else 1, 1
    )
    if text:
        records = node.peer.search(module, text, limit=PAGE * page + 1)
    else:
        records = await ops.list_records(node, module, labels=True)
    shown = records[(page - 1) * PAGE : page * PAGE]
    columns = ["id", *(n for n, f in get_module(module).fields.items() if f.type.value != "note")]
    more = len(records) > page * PAGE
    return context(
        request, module=module, records=shown, columns=columns, q=text, page=page, more=more
    )
