"""What the web pages share: the keys of the app's and requests' storage, and the
context every logged-in page gets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.web.sessions import WebSession, WebSessions
from roamsync.schema import MODULES
from roamsync.schema.modules import SYSTEM_MODULES

NODE = web.AppKey("node", Node)
SESSIONS = web.AppKey("sessions", WebSessions)
SESSION = web.RequestKey("session", WebSession)  # absent: no session
TOKEN = web.RequestKey("token", str)  # the session's token (with SESSION)
FORM = web.RequestKey("form", MultiDictProxy)


def context(request: web.Request, **more: Any) -> dict[str, Any]:
    """What every logged-in page shows: the user and their role, the CSRF token, the modules."""
    session = request[SESSION]
    modules = [m for m in MODULES if m not in SYSTEM_MODULES]
    role = user_role(request)
    return {"user": session.email, "role": role, "csrf": session.csrf, "modules": modules, **more}


def user_role(request: web.Request) -> str:
    """The logged-in web user's role; ``read-only`` if there is no such user (any more)."""
    email = request[SESSION].email if SESSION in request else ""
    found = (u.role for u in users.users(request.app[NODE].peer) if u.email == email)
    return next(found, "read-only")


ONE = {"activities": "activity", "stock": "stock entry", "device_status": "device status"}


def one(module: str) -> str:
    """One record of ``module`` in words (``contact_persons``: ``contact person``; the
    modules not in :data:`ONE` drop a final "s"); the pages' ``one`` filter."""
    return ONE.get(module) or module.removesuffix("s").replace("_", " ")


def when(moment: float | str | None) -> str:
    """A time as ``2026-12-02 14:05 UTC`` (seconds since the epoch or ISO 8601); the
    pages' ``when`` filter."""
    if moment is None or moment == "":
        return ""
    try:
        if isinstance(moment, str):
            stamp = dt.datetime.fromisoformat(moment)
        else:
            stamp = dt.datetime.fromtimestamp(moment, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return str(moment)
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
