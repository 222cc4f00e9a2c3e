"""Who may do what on the web pages, and the page that says no.

Two limits hold on every page, and the narrower wins:

* the web user's role (``admin``, ``office``, ``read-only``): what the pages let them
  do at all, checked here (:func:`require_admin`, :func:`require_writer`);
* the serving device's role: every write goes through the operations layer on this
  device's replica, which holds it to the travel matrix and keeps the main-only
  modules (users, devices, company) to main, whoever is logged in. Those refusals
  come back as :class:`~roamsync.schema.RoamsyncError` and each page shows them.

A refusal by user role is the readable "not allowed" page, status 403
(:func:`forbidden`), never bare text::

    if not allowed:
        raise forbidden(request, "A read-only user changes nothing.", back="/records/contacts")
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from roamsync.peer.org import registry
from roamsync.peer.web.base import NODE, SESSION, context, user_role


def forbidden(request: web.Request, reason: str, back: str = "/") -> web.HTTPForbidden:
    """A 403 whose body is ``forbidden.html``: ``reason`` and a link to ``back`` (a path
    of this site). Raise it."""
    page: dict[str, Any] = {"reason": reason, "back": back}
    values = context(request, **page) if SESSION in request else {"user": None, **page}
    html = aiohttp_jinja2.render_string("forbidden.html", request, values)
    return web.HTTPForbidden(text=html, content_type="text/html")


def require_admin(request: web.Request, what: str) -> None:
    """Refuse (403, readable) unless the web user is an administrator; ``what`` they
    tried, e.g. ``"manages users"``."""
    if user_role(request) != "admin":
        raise forbidden(request, f"Only an administrator {what}.")


def require_writer(request: web.Request, back: str = "/") -> None:
    """Refuse (403, readable) a ``read-only`` web user."""
    if user_role(request) == "read-only":
        raise forbidden(request, "A read-only user changes nothing.", back)


def main_only(request: web.Request, what: str) -> str:
    """On a device other than main, the note that only main ``what`` (e.g. ``"invites
    devices"``), naming main and this device; on main, ``""``. The page shows it instead of
    forms that this device's operations would refuse anyway."""
    node = request.app[NODE]
    if node.peer.role == "main":
        return ""
    names = {e.device: e.name for e in registry.devices(node.peer)}
    main = names.get(node.config.main_device, "main")
    here = f"{node.config.name}, {'an' if node.peer.role == 'office' else 'a'} {node.peer.role}"
    return f"Only the main device ({main}) {what}; this is {here} device."
