"""Enrolment on main: the ``/join`` endpoint a new device posts its invitation code to.

The joining device has pinned main's certificate (the code names its
fingerprint), so its secret reaches only the real main. It sends its name,
its certificate and a *proof*: a signature, made with the certificate's
private key, over main's fingerprint, the invitation id and the certificate's
fingerprint (:func:`~roamsync.peer.org.enrolment.join_message`). Main checks,
in this order, before the invitation is touched:

1. the request is a JSON object of text fields with a valid device name and
   certificate (else 400, ``RequestError`` or ``UsageError``);
2. the company profile meets the connection criteria (409, ``CriteriaError``);
3. the proof verifies with the certificate's key (else 403: someone who
   copied another device's certificate, main's included, cannot enrol it);
4. the certificate is not in the registry, active or revoked (else 409,
   ``EnrolledError``: re-enrolment would rewrite a role or undo a revocation).

Only then is the invitation redeemed (a wrong secret counts towards its
lock) and the device added to the registry. A refusal is the error as the
local API sends it (:meth:`~roamsync.schema.RoamsyncError.to_wire`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import orjson
from aiohttp import web

from roamsync.peer.org import company, registry
from roamsync.peer.org.config import Config
from roamsync.peer.org.enrolment import join_message
from roamsync.peer.replica import Peer
from roamsync.schema import (
    EnrolledError,
    InvitationError,
    RequestError,
    RoamsyncError,
    TlsError,
    UsageError,
    device_name,
)
from roamsync.schema.errors import http_status
from roamsync.transport import tls

log = logging.getLogger(__name__)

MAX_REQUEST = 1 << 16  # bytes: a name, a certificate and a signature fit in far less
FIELDS = ("invitation", "secret", "name", "cert", "proof")


class JoinServer:
    def __init__(self, peer: Peer, config: Config, identity: tls.Identity) -> None:
        self.peer = peer
        self.config = config
        self.identity = identity

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await _read(request)
            reply = await self.join(body)
        except RoamsyncError as exc:
            log.warning("refused a join request: %s", exc)
            return web.json_response(exc.to_wire(), status=http_status(exc), dumps=_dumps)
        return web.json_response(reply, dumps=_dumps)

    async def join(self, body: dict[str, str]) -> dict[str, Any]:
        peer = self.peer
        if peer.role != "main":
            raise UsageError("only the main device enrols devices")
        name = device_name(body["name"])
        try:
            fingerprint = tls.fingerprint_of(body["cert"])
            proven = tls.verifies(
                body["cert"],
                _unbase64(body["proof"]),
                join_message(self.identity.fingerprint, body["invitation"], fingerprint),
            )
        except TlsError as exc:
            raise RequestError(f"malformed join request: {exc}") from exc
        company.check_criteria(peer)
        if not proven:
            raise InvitationError(
                "the request does not prove that the joining device holds its certificate's key"
            )
        if registry.known(peer, fingerprint):
            raise EnrolledError("that certificate is in the registry already: make a new device")
        role = registry.redeem(peer, body["invitation"], body["secret"])
        entry = await registry.enroll(peer, name, role, fingerprint, body["cert"])
        log.info("enrolled %s (%s) as %s", entry.name, entry.device, role)
        return {
            "company": self.config.company,
            "company_name": self.config.company_name,
            "role": role,
            "main_device": peer.device,
            "main_fingerprint": self.identity.fingerprint,
            "trusted": [e.cert for e in registry.devices(peer) if e.active],
        }


async def _read(request: web.Request) -> dict[str, str]:
    """The request's JSON object of text fields; ``RequestError`` for anything else."""
    if request.content_length is not None and request.content_length > MAX_REQUEST:
        raise RequestError(f"a join request has at most {MAX_REQUEST} bytes")
    raw = await request.content.read(MAX_REQUEST + 1)
    if len(raw) > MAX_REQUEST:
        raise RequestError(f"a join request has at most {MAX_REQUEST} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"a join request is a JSON object: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError("a join request is a JSON object")
    wrong = [k for k in FIELDS if not isinstance(body.get(k), str) or not body[k]]
    if wrong:
        raise RequestError(f"a join request needs text in {', '.join(wrong)}")
    return {k: body[k] for k in FIELDS}


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(f"the join proof is not base64: {exc}") from None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
