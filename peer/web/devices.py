"""The devices page (admins): the company's devices, each with its role, whether it is
online, working offline since when or disconnected, when it was last seen and last
synced with this device; on main, invite a device (its code shown once, as
``roamsync invite`` prints it) and disconnect one, after a confirmation.

Invite and disconnect are main's operations (``ops.invite``, ``ops.disconnect``): on any
other device the page says so instead of offering them, and a form posted there anyway
gets the command line's refusal, shown on the page.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import bind
from roamsync.peer.org import registry
from roamsync.peer.web.access import main_only, require_admin
from roamsync.peer.web.base import FORM, NODE, context, when
from roamsync.schema import RoamsyncError

routes = web.RouteTableDef()  # added by app.make_app

WHAT = "invites and disconnects devices"
HOURS = (1 / 60, registry.MAX_TTL / 3600)  # an invitation's validity, as `roamsync invite`
WILDCARDS = ("", "0.0.0.0", "::", "[::]")  # a listen address that names no host


def _state(row: dict[str, Any]) -> str:
    if row["status"] != "active":
        return "disconnected"
    if row["offline_since"]:
        return f"working offline since {when(row['offline_since'])}"
    return "online" if row["online"] else "not connected"


def _synced(row: dict[str, Any], here: bool, last: float | None) -> str:
    if here:
        return ""
    if row["online"] and row["status"] == "active":  # a revoked one's session is closing
        return "now (connected)"
    return when(last) or "not yet"


async def _rows(node: Node) -> list[dict[str, Any]]:
    """``ops.devices`` as the page shows it, with when each last synced with this device."""
    synced: dict[str, float] = {}
    for entry in await ops.log(node):  # newest first
        if entry["status"] == "ok":
            synced.setdefault(entry["peer"], entry["ended"])
    rows = []
    for row in await ops.devices(node):
        here = row["device"] == node.peer.device
        rows.append(
            {
                **row,
                "here": here,
                "state": _state(row),
                "seen": "now (this device)" if here else when(row["last_seen"]) or "never",
                "synced": _synced(row, here, synced.get(row["device"])),
                "may_disconnect": row["status"] == "active" and row["role"] != "main",
            }
        )
    return rows


async def _page(request: web.Request, **more: Any) -> web.Response:
    node = request.app[NODE]
    page = {
        "devices": await _rows(node),
        "problem": "",
        "done": "",
        "invited": None,
        "confirm": None,
        "main_only": main_only(request, WHAT),
        "hours_max": f"{HOURS[1]:g}",
        **more,
    }
    return aiohttp_jinja2.render_template("devices.html", request, context(request, **page))


@routes.get("/devices")
async def devices_page(request: web.Request) -> web.Response:
    require_admin(request, "manages devices")
    return await _page(request)


def _hours(text: str) -> float:
    """The invitation's validity in hours, as typed (``24``, ``0,5``)."""
    try:
        hours = float(text.strip().replace(",", "."))
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and HOURS[0] <= hours <= HOURS[1]):
        days = HOURS[1] / 24
        raise ValueError(
            f"A code is valid from 1 minute to {HOURS[1]:g} hours ({days:g} days): "
            f"give hours, e.g. 24 or 0,5; not {text!r}."
        )
    return hours


def _address(node: Node) -> str:
    """Where a new device reaches this one, for ``roamsync join --peer``."""
    host = node.config.listen
    if host in WILDCARDS:
        host = "THIS-COMPUTER"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{node.port or node.config.port}"


@routes.post("/devices/invite")
async def invite(request: web.Request) -> web.Response:
    require_admin(request, "manages devices")
    node = request.app[NODE]
    form = request[FORM]
    role = str(form.get("role", ""))
    try:
        hours = _hours(str(form.get("hours", "24")))
        made = await ops.invite(node, **bind(ops.invite, {"role": role, "ttl": hours * 3600}))
    except (RoamsyncError, ValueError) as exc:
        return await _page(request, problem=str(exc))
    company = shlex.quote(node.config.company_name)
    invited = {
        "role": role,
        "hours": f"{hours:g}",
        "code": made["code"],
        "init": f"roamsync init DIR --device NAME --role {role} --company {company}",
        "join": f"roamsync join DIR {made['code']} --peer {_address(node)}",
    }
    return await _page(request, invited=invited)


async def _entry(request: web.Request) -> dict[str, Any] | None:
    wanted = request.match_info["device"]
    return next((r for r in await _rows(request.app[NODE]) if r["device"] == wanted), None)


@routes.get("/devices/{device}/disconnect")
async def confirm_disconnect(request: web.Request) -> web.Response:
    require_admin(request, "manages devices")
    return await _confirmation(request)


async def _confirmation(request: web.Request) -> web.Response:
    """The confirmation step: what disconnecting means, and the button that does it."""
    note = main_only(request, WHAT)
    if note:
        return await _page(request, problem=note)
    entry = await _entry(request)
    if entry is None or not entry["may_disconnect"]:
        name = entry["name"] if entry else request.match_info["device"]
        return await _page(request, problem=f"{name} is not a device that can be disconnected.")
    return await _page(request, confirm=entry)


@routes.post("/devices/{device}/disconnect")
async def disconnect(request: web.Request) -> web.Response:
    require_admin(request, "manages devices")
    if request[FORM].get("confirm") != "yes":  # not from the confirmation: ask first
        return await _confirmation(request)
    try:
        done = await ops.disconnect(request.app[NODE], request.match_info["device"])
    except RoamsyncError as exc:
        return await _page(request, problem=str(exc))
    message = f"Disconnected {done['name']}: its certificate is no longer accepted; its data stays."
    return await _page(request, done=message)
