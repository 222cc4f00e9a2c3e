"""Enrolment on main: the ``/join`` endpoint a new device calls with its invitation code.

The joining device has pinned main's certificate (the code names its
fingerprint), so its secret reaches only the real main. Main checks the
company profile, redeems the invitation and adds the device to the registry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

from roamsync.peer.org import company, registry
from roamsync.peer.org.config import Config
from roamsync.peer.replica import Peer
from roamsync.schema import CriteriaError, RegistryError, UsageError
from roamsync.transport import tls

log = logging.getLogger(__name__)

JOIN_PATH = "/join"
JOIN_TIMEOUT = 30.0  # seconds the joining device has to send its request


class JoinServer:
    def __init__(self, peer: Peer, config: Config, identity: tls.Identity) -> None:
        self.peer = peer
        self.config = config
        self.identity = identity

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 16)
        await ws.prepare(request)
        try:
            msg = await asyncio.wait_for(ws.receive_str(), JOIN_TIMEOUT)
            reply = await self.join(orjson.loads(msg))
        except CriteriaError as exc:
            reply = {"error": str(exc), "missing": exc.missing}
        except (RegistryError, UsageError) as exc:
            reply = {"error": str(exc)}
        except (TimeoutError, TypeError, ValueError, KeyError, orjson.JSONDecodeError) as exc:
            reply = {"error": f"malformed join request: {exc}"}
        await ws.send_str(orjson.dumps(reply).decode())
        await ws.close()
        return ws

    async def join(self, body: dict[str, Any]) -> dict[str, Any]:
        peer = self.peer
        if peer.role != "main":
            raise UsageError("only the main device enrols devices")
        company.check_criteria(peer)
        role = registry.redeem(peer, str(body["invitation"]), str(body["secret"]))
        cert = str(body["cert"])
        entry = await registry.enroll(peer, str(body["name"]), role, tls.fingerprint_of(cert), cert)
        log.info("enrolled %s (%s) as %s", entry.name, entry.device, role)
        return {
            "company": self.config.company,
            "company_name": self.config.company_name,
            "role": role,
            "main_device": peer.device,
            "main_fingerprint": self.identity.fingerprint,
            "trusted": [e.cert for e in registry.devices(peer) if e.active],
        }
