"""Setting up a data directory: ``init`` for every device, ``join`` for all but main."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from roamsync.peer.org import company, registry
from roamsync.peer.org.config import (
    CONFIG,
    DEFAULT_PORT,
    TLS_DIR,
    Config,
    load_config,
    new_company_id,
    save_config,
)
from roamsync.peer.org.sample import SAMPLE_COMPANY, fill_sample
from roamsync.peer.replica import Peer
from roamsync.peer.store.files import make_private
from roamsync.schema import ROLES, InvitationError, RegistryError, UsageError, device_name
from roamsync.schema.errors import from_wire
from roamsync.transport import tls

JOIN_TIMEOUT = 30.0
JOIN_PATH = "/join"


def join_message(main_fingerprint: str, invitation: str, cert_fingerprint: str) -> bytes:
    """What a joining device signs: it holds the key of the certificate it enrols, and
    the signature is good for this invitation at this main only."""
    return f"roamsync join v1\0{main_fingerprint}\0{invitation}\0{cert_fingerprint}".encode()


def join_proof(
    identity: tls.Identity, main_fingerprint: str, invitation: str, cert_fingerprint: str
) -> str:
    """The proof a join request carries (base64 of the signature over :func:`join_message`)."""
    message = join_message(main_fingerprint, invitation, cert_fingerprint)
    return base64.b64encode(tls.sign(identity, message)).decode()


async def init_directory(
    folder: Path,
    *,
    name: str,
    role: str,
    company_name: str,
    listen: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    peers: list[str] | None = None,
    discovery: bool = True,
    profile: dict[str, str] | None = None,
    sample: bool = False,
) -> Config:
    """Create a device: its key and certificate, its config; on main, the company."""
    if role not in ROLES:
        raise UsageError(f"role must be one of {ROLES}, not {role!r}")
    device_name(name)
    if (folder / CONFIG).exists():
        raise UsageError(f"{folder} is a roamsync data directory already")
    make_private(folder)
    identity = tls.create_identity(folder / TLS_DIR, name)
    config = Config(
        name=name,
        role=role,
        company_name=company_name,
        fingerprint=identity.fingerprint,
        listen=listen,
        port=port,
        peers=list(peers or []),
        discovery=discovery,
        sample=sample,
    )
    if sample:
        profile = {**SAMPLE_COMPANY, **(profile or {})}
    if role == "main":
        config.company = new_company_id()
        config.main_device = config.device
        config.main_fingerprint = identity.fingerprint
        sign = tls.signer(identity)
        async with await Peer.open(
            folder, device=config.device, role="main", label=name, signer=sign
        ) as peer:
            await registry.enroll(peer, name, "main", identity.fingerprint, identity.cert_pem)
            await company.set_profile(peer, {**(profile or {}), "name": company_name})
            if sample:
                await fill_sample(peer)
    save_config(folder, config)
    return config


async def join_company(folder: Path, code: str, address: str) -> Config:
    """Enrol this device with main at ``address`` using an invitation code."""
    config = load_config(folder)
    if config.sample:
        raise UsageError("this is a sample company: it never syncs")
    if config.enrolled:
        raise UsageError(f"{folder} belongs to company {config.company_name!r} already")
    main_fingerprint, invitation, secret = registry.parse_code(code)
    identity = tls.load_identity(folder / TLS_DIR)
    request = {
        "invitation": invitation,
        "secret": secret,
        "name": config.name,
        "cert": identity.cert_pem,
        "proof": join_proof(identity, main_fingerprint, invitation, identity.fingerprint),
    }
    reply = await _ask_main(address, main_fingerprint, request)
    config.company = str(reply["company"])
    config.company_name = str(reply["company_name"])
    config.role = str(reply["role"])
    config.main_device = str(reply["main_device"])
    config.main_fingerprint = main_fingerprint
    config.trusted = [str(c) for c in reply["trusted"]]
    if address not in config.peers:
        config.peers.append(address)
    save_config(folder, config)
    return config


async def _ask_main(address: str, fingerprint: str, request: dict[str, Any]) -> dict[str, Any]:
    # aiohttp checks the server certificate's SHA-256 against the code before it sends
    # anything, so the secret never reaches an impostor.
    # A plain request, not a websocket: the connection goes back to the pool and is
    # closed with the session, so nothing is left open when the command's loop ends.
    pin = aiohttp.Fingerprint(bytes.fromhex(fingerprint))
    try:
        async with (
            aiohttp.ClientSession() as http,
            asyncio.timeout(JOIN_TIMEOUT),
            http.post(f"https://{address}{JOIN_PATH}", ssl=pin, data=orjson.dumps(request)) as resp,
        ):
            raw = await resp.read()
            status = resp.status
    except aiohttp.ServerFingerprintMismatch as exc:
        raise InvitationError(f"{address} is not the main device the code belongs to") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise InvitationError(f"cannot reach main at {address}: {exc}") from exc
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict):
        raise RegistryError(f"main at {address} answered {status} with no JSON object")
    if status >= 400:
        raise from_wire(reply)
    return reply
