"""The web pages (``roamsync serve DIR --web``): login, accepting an invitation, the
dashboard and one list per module, server-rendered with autoescaped Jinja2 templates.

Every request passes :func:`guard`: the ``Host`` must be a name this server answers to
(:class:`~.hosts.Hosts`: a DNS-rebinding page gets nothing), and a ``POST`` must come
from this origin (``Origin``, else ``Referer``: scheme, host and port) and carry the
CSRF token of its session (or, for the login and accept forms, of its ``csrf``
cookie). Over HTTPS both cookies are ``Secure`` and named ``__Host-...`` (the browser
keeps them to this exact origin). Pages other than login and accept need a session
(:mod:`.sessions`); without one they redirect to the login page and show no data.
Reads go through the operations layer, as the CLI's do.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from roamsync.peer import ops
from roamsync.peer.core.acting import acting_as
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.replica.records import load_view
from roamsync.peer.web import devices, live, people, records
from roamsync.peer.web.access import forbidden
from roamsync.peer.web.base import FORM, NODE, SESSION, SESSIONS, TOKEN, context, one, when
from roamsync.peer.web.hosts import Hosts
from roamsync.peer.web.sessions import WebSessions
from roamsync.schema import MODULES, RoamsyncError, get_module
from roamsync.schema.modules import SYSTEM_MODULES

COOKIE = "roamsync_session"
CSRF_COOKIE = "roamsync_csrf"
PAGE = 50  # records per list page
MAX_PAGE = 1_000_000  # a larger page number is read as this one (then as the last page)
FAILURE_DELAY = 0.5  # seconds every failed login waits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOSTS = web.AppKey("hosts", Hosts)


routes = web.RouteTableDef()


def make_app(
    node: Node, sessions: WebSessions | None = None, *, hosts: Hosts | None = None
) -> web.Application:
    """The pages of ``node``, answering to ``hosts`` (the loopback names by default)."""
    app = web.Application(middlewares=[guard])
    app[NODE] = node
    app[HOSTS] = hosts or Hosts()
    app[SESSIONS] = sessions or WebSessions(node.peer)
    loader = jinja2.PackageLoader("roamsync.peer.web", "templates")
    env = aiohttp_jinja2.setup(
        app, loader=loader, autoescape=jinja2.select_autoescape(default=True)
    )
    env.filters["when"] = when
    env.filters["one"] = one
    app.add_routes(routes)
    app.add_routes(records.routes)
    app.add_routes(live.routes)
    app.router.add_static("/static/", Path(__file__).parent / "static")
    app.cleanup_ctx.append(live.follow_changes)
    app.on_response_prepare.append(_protect)
    app.add_routes(people.routes)
    app.add_routes(devices.routes)
    return app


SECURITY_HEADERS = {
    # Only this server's own scripts, styles, forms and frames: an injected value that
    # slipped past autoescaping still could not run or send a form elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


async def _protect(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: the security headers; a page: not cached (it holds company data)."""
    response.headers.update(SECURITY_HEADERS)
    if request.secure:  # this browser comes back over HTTPS only, for a year
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


def _same_origin(request: web.Request) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return bool(source) and (parts.scheme, parts.netloc) == (request.scheme, request.host)


def cookie_name(request: web.Request, name: str) -> str:
    """Over HTTPS the ``__Host-`` prefix: browsers keep such a cookie only if it is
    ``Secure``, for ``Path=/`` and no ``Domain``, so no other host can set or read it."""
    return f"__Host-{name}" if request.secure else name


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(
        cookie_name(request, name),
        value,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=request.secure,
    )


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.app[HOSTS].allow(request.host):
        raise web.HTTPForbidden(text="refused: this server does not answer to that name")
    if request.path == "/favicon.ico":
        raise web.HTTPNotFound()  # none, and no redirect to the login for it
    open_page = request.path == "/login" or request.path.startswith(("/accept/", "/static/"))
    sessions = request.app[SESSIONS]
    token = request.cookies.get(cookie_name(request, COOKIE))
    refresh = request.path == "/events" or request.headers.get("X-Roamsync-Live") == "1"
    session = sessions.get(token, touch=not refresh)  # a page refreshing itself: not a use
    if session is not None and not users.may_log_in(request.app[NODE].peer, session.email):
        sessions.end(token or "")  # locked or disabled since: the session ends now
        session = None
    if session is not None:
        request[SESSION] = session
        request[TOKEN] = token or ""
    if request.method == "POST":
        form = await request.post()
        from_cookie = request.cookies.get(cookie_name(request, CSRF_COOKIE))
        expected = session.csrf if session and not open_page else from_cookie
        given = str(form.get("csrf", ""))
        if not _same_origin(request) or not expected or not hmac.compare_digest(given, expected):
            raise forbidden(
                request,
                "Refused: the form did not come from this site's own page, or it is too old. "
                "Go back, reload the page and try again.",
            )
        request[FORM] = form
    if session is None:
        if not open_page:
            raise web.HTTPFound("/login")
        return await handler(request)
    with acting_as(session.email):  # every write of the request names its user
        return await handler(request)


def _with_csrf_cookie(request: web.Request, page: str, context: dict[str, Any]) -> web.Response:
    """A login or accept form, with the CSRF token of its cookie (a new one if none: a
    second tab, or a page sent back to the login, must not void a form on screen)."""
    kept = request.cookies.get(cookie_name(request, CSRF_COOKIE), "")
    token = kept if 20 <= len(kept) <= 64 else secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(page, request, {**context, "csrf": token})
    _set_cookie(response, request, CSRF_COOKIE, token)
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
        email = str(form.get("email", ""))[:254]
        return _with_csrf_cookie(request, "login.html", {"error": error, "email": email})
    response = web.HTTPFound("/")
    token = request.app[SESSIONS].start(user.email)
    _set_cookie(response, request, COOKIE, token)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].end(request.cookies.get(cookie_name(request, COOKIE), ""))
    response = web.HTTPFound("/login")
    response.del_cookie(cookie_name(request, COOKIE), path="/", secure=request.secure)
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
    return context(
        request,
        status=status,
        counts=counts,
        log=(await ops.log(node))[:20],
        devices=await ops.devices(node),
        days=await ops.history(node),
        open_orders=_open_orders(node),
    )


CLOSED = frozenset({"delivered", "invoiced", "cancelled", "canceled", "closed", "done"})


def _open_orders(node: Node) -> int:
    """Orders whose status is not a closed one (delivered, invoiced, cancelled, ...)."""
    views = (load_view(raw)["fields"] for raw in node.peer.store.views("orders"))
    return sum(str(v.get("status") or "").strip().casefold() not in CLOSED for v in views)


@routes.get("/records/{module}")
@aiohttp_jinja2.template("list.html")
async def record_list(request: web.Request) -> dict[str, Any]:
    """A page of a module's list, paged on the server (one indexed query, :func:`ops.list_page`):
    ``?sort=changed`` (else by name or number), ``order=desc``, ``page=N``; or with ``q``
    the best matches of a search, a page at a time."""
    node = request.app[NODE]
    module = request.match_info["module"]
    if module in SYSTEM_MODULES or module not in MODULES:
        raise web.HTTPNotFound(text="no such module")
    text = request.query.get("q", "").strip()[:200]
    asked = request.query.get("page", "1")
    digits = asked.isascii() and asked.isdigit() and len(asked) <= 12
    page = max(min(int(asked), MAX_PAGE), 1) if digits else 1
    changed = request.query.get("sort") == "changed"
    descending = request.query.get("order") == "desc"
    by = None
    if text:  # best matches first; the total is known once the last match is shown
        await node.peer.indexed()
        found = node.peer.search(module, text, limit=PAGE + 1, offset=(page - 1) * PAGE)
        shown = ops.label_references(node, module, found[:PAGE])
        more = len(found) > PAGE
        total = None if more else (page - 1) * PAGE + len(shown)
    else:
        for _ in range(2):  # a page past the end: the last page instead
            offset = (page - 1) * PAGE
            listed = await ops.list_page(
                node, module, offset, PAGE, "changed" if changed else "key", descending, True
            )
            last = max(-(-listed["total"] // PAGE), 1)
            if page <= last:
                break
            page = last
        shown, total, by = listed["records"], listed["total"], listed["by"]
        more = page * PAGE < total
    fields = get_module(module).fields
    columns = [*(n for n, f in fields.items() if f.type.value != "note"), "id"]
    link = "number" if "number" in fields else "name" if "name" in fields else "id"
    return context(
        request,
        module=module,
        records=shown,
        columns=columns,
        link=link,  # the column that links to the record
        q=text,
        page=page,
        more=more,
        total=total,
        pages=None if total is None else max(-(-total // PAGE), 1),
        first=(page - 1) * PAGE + 1,
        sort="changed" if changed else "key",
        descending=descending,
        by=by,
    )
