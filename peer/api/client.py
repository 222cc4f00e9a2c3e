"""The command line's side of the local API: run an operation through the daemon.

:class:`ApiClient` builds each request from the route table, so it sends what
the daemon's route expects, and raises the same error class the daemon did
(:func:`roamsync.schema.errors.from_wire`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from roamsync.peer.api.routes import PREFIX, Operation, route_of
from roamsync.peer.api.wire import to_json
from roamsync.peer.org.config import DAEMON
from roamsync.schema import DaemonError
from roamsync.schema.errors import from_wire

TIMEOUT = 600.0  # seconds: offline and online wait for a sync


def daemon_info(folder: Path) -> dict[str, Any] | None:
    """The running daemon's API address and token, if one is running on ``folder``."""
    try:
        info = orjson.loads((folder / DAEMON).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(info, dict) or not _well_formed(info):
        return None
    try:
        os.kill(info["pid"], 0)
    except OSError:
        return None
    return info


def _well_formed(info: dict[str, Any]) -> bool:
    def positive(name: str) -> bool:
        value = info.get(name)
        return type(value) is int and value > 0

    return positive("pid") and positive("port") and isinstance(info.get("token"), str)


class ApiClient:
    """Calls the daemon's API; raises the same RoamsyncError subclasses the daemon raised."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.base = f"http://127.0.0.1:{info['port']}"
        self.headers = {"Authorization": f"Bearer {info['token']}"}

    async def run(self, op: Operation, args: dict[str, Any]) -> Any:
        """Run ``op`` with ``args`` in the daemon."""
        route = route_of(op)
        rest = {k: v for k, v in args.items() if k not in route.path_args}
        params: dict[str, str] | None = None
        data: bytes | None = None
        if route.method == "GET":
            params = {k: _query(v) for k, v in rest.items() if v is not None}
        elif route.body is not None:
            data = to_json(rest.pop(route.body))
        else:
            data = to_json(rest)
        return await self._request(route.method, route.url(args), data, params)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """``method`` on ``path`` (below ``/api``) with ``body`` as JSON."""
        data = None if body is None else to_json(body)
        return await self._request(method, PREFIX + path, data, None)

    async def _request(
        self, method: str, path: str, data: bytes | None, params: dict[str, str] | None
    ) -> Any:
        try:
            async with (
                aiohttp.ClientSession(
                    headers=self.headers, timeout=aiohttp.ClientTimeout(TIMEOUT)
                ) as http,
                http.request(method, self.base + path, data=data, params=params) as resp,
            ):
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DaemonError(f"the daemon's API did not answer: {exc}") from exc
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DaemonError(f"the daemon answered {resp.status} with no JSON") from None
        if resp.status >= 400:
            if not isinstance(payload, dict):
                raise DaemonError(f"the daemon answered {resp.status}: {payload!r}")
            raise from_wire(payload)
        return payload


def _query(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
