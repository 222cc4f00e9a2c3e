"""The local API's routes: each an operation of :mod:`roamsync.peer.ops`.

Path parameters (``{module}``, ``{id}``) are the operation's arguments of the
same name; a GET takes the others from the query string, every other method
from a JSON object in the body, except where ``body`` names the one argument
that is the whole body (the fields of a record). The daemon serves this table
(:mod:`.server`) and the command line's client builds its requests from it
(:mod:`.client`), so the two cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from roamsync.peer import ops

PREFIX = "/api"
Operation = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX, with {name} for path arguments
    op: Operation
    body: str | None = None  # the argument that is the whole JSON body

    @property
    def path_args(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def pattern(self) -> str:
        """The path for the router: a path argument is any text but ``/`` (braces too)."""
        return PREFIX + re.sub(r"{(\w+)}", r"{\1:[^/]+}", self.path)

    def url(self, args: Mapping[str, Any]) -> str:
        """The path with the path arguments filled in."""
        path = self.path
        for name in self.path_args:
            path = path.replace(f"{{{name}}}", quote(str(args[name]), safe=""))
        return PREFIX + path


ROUTES = (
    Route("GET", "/status", ops.status),
    Route("GET", "/devices", ops.devices),
    Route("GET", "/conflicts", ops.conflicts),
    Route("POST", "/resolve", ops.resolve),
    Route("GET", "/rejections", ops.rejections),
    Route("GET", "/records/{module}", ops.list_records),
    Route("POST", "/records/{module}", ops.create, body="fields"),
    Route("GET", "/records/{module}/{id}", ops.get),
    Route("PATCH", "/records/{module}/{id}", ops.update, body="fields"),
    Route("DELETE", "/records/{module}/{id}", ops.delete),
    Route("POST", "/records/{module}/{id}/restore", ops.restore),
    Route("GET", "/records/{module}/{id}/changes", ops.changes),
    Route("GET", "/find/{module}", ops.find),
    Route("GET", "/search/{module}", ops.search),
    Route("POST", "/offline", ops.offline),
    Route("POST", "/online", ops.online),
    Route("POST", "/invite", ops.invite),
    Route("POST", "/disconnect", ops.disconnect),
    Route("GET", "/log", ops.log),
    Route("GET", "/history", ops.history),
    Route("GET", "/company", ops.company),
    Route("POST", "/company", ops.register_company),
    Route("POST", "/backup", ops.backup),
    Route("GET", "/users", ops.users),
    Route("POST", "/users/invite", ops.user_invite),
    Route("POST", "/users/status", ops.user_status),
    Route("POST", "/users/accept", ops.user_accept),
    Route("POST", "/import/{module}", ops.import_records),
)


def route_of(op: Operation) -> Route:
    """The route that runs ``op`` (each has one, except those that set a directory up:
    init, join, repair, which run where no daemon can)."""
    for route in ROUTES:
        if route.op is op:
            return route
    raise LookupError(f"{op.__name__} has no route in the local API")
