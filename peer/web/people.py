"""The user-administration page (admins): who is invited, who accepted, who is locked;
invite, lock, unlock, disable. On main only: its operations say so elsewhere."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from roamsync.peer import ops
from roamsync.peer.web.access import main_only, require_admin
from roamsync.peer.web.base import FORM, NODE, context
from roamsync.schema import RoamsyncError

routes = web.RouteTableDef()  # added by app.make_app


def _admin(request: web.Request) -> None:
    require_admin(request, "manages users")


async def _page(request: web.Request, **more: Any) -> web.Response:
    rows = await ops.users(request.app[NODE])
    note = main_only(request, "invites, locks and unlocks users")
    page = {"users": rows, "problem": "", "invited": None, "main_only": note, **more}
    return aiohttp_jinja2.render_template("users.html", request, context(request, **page))


@routes.get("/users")
async def users_page(request: web.Request) -> web.Response:
    _admin(request)
    return await _page(request)


@routes.post("/users/invite")
async def invite(request: web.Request) -> web.Response:
    _admin(request)
    form = request[FORM]
    try:
        invited = await ops.user_invite(
            request.app[NODE],
            str(form.get("email", "")),
            str(form.get("role", "")),  # type: ignore[arg-type]
            str(form.get("name", "")),
        )
    except RoamsyncError as exc:
        return await _page(request, problem=str(exc))
    return await _page(request, invited=invited)


@routes.post("/users/status")
async def status(request: web.Request) -> web.Response:
    _admin(request)
    form = request[FORM]
    wanted = str(form.get("status", ""))
    if wanted not in ("active", "locked", "disabled"):
        raise web.HTTPBadRequest(text="a user is set active, locked or disabled")
    try:
        await ops.user_status(request.app[NODE], str(form.get("email", "")), wanted)  # type: ignore[arg-type]
    except RoamsyncError as exc:
        return await _page(request, problem=str(exc))
    raise web.HTTPFound("/users")
