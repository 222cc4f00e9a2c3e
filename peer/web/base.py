"""What the web pages share: the keys of the app's and requests' storage, and the
context every logged-in page gets."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from roamsync.peer.daemon.node import Node
from roamsync.peer.web.sessions import WebSession, WebSessions
from roamsync.schema import MODULES
from roamsync.schema.modules import SYSTEM_MODULES

NODE = web.AppKey("node", Node)
SESSIONS = web.AppKey("sessions", WebSessions)
SESSION = web.RequestKey("session", WebSession)  # absent: no session
FORM = web.RequestKey("form", MultiDictProxy)


def context(request: web.Request, **more: Any) -> dict[str, Any]:
    """What every logged-in page shows: the user, the CSRF token, the modules."""
    session = request[SESSION]
    modules = [m for m in MODULES if m not in SYSTEM_MODULES]
    return {"user": session.email, "csrf": session.csrf, "modules": modules, **more}
