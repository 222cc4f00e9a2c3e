"""Setting up a data directory: ``init`` for every device, ``join`` for all but main."""

from __future__ import annotations

import asyncio
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
from roamsync.schema import ROLES, CriteriaError, InvitationError, UsageError
from roamsync.transport import tls

JOIN_TIMEOUT = 30.0


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
    if (folder / CONFIG).exists():
        raise UsageError(f"{folder} is a roamsync data directory already")
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, at set-up)
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
        async with await Peer.open(folder, device=config.device, role="main", label=name) as peer:
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
    }
    reply = await _ask_main(address, main_fingerprint, request)
    if "missing" in reply:
        raise CriteriaError([str(m) for m in reply["missing"]])
    if "error" in reply:
        raise InvitationError(str(reply["error"]))
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
    pin = aiohttp.Fingerprint(bytes.fromhex(fingerprint))
    try:
        async with (
            aiohttp.ClientSession() as http,
            asyncio.timeout(JOIN_TIMEOUT),
            http.ws_connect(f"https://{address}/join", ssl=pin) as ws,
        ):
            await ws.send_str(orjson.dumps(request).decode())
            reply: dict[str, Any] = orjson.loads(await ws.receive_str())
            return reply
    except aiohttp.ServerFingerprintMismatch as exc:
        raise InvitationError(f"{address} is not the main device the code belongs to") from exc
    except (aiohttp.ClientError, OSError, TimeoutError, TypeError) as exc:
        raise InvitationError(f"cannot reach main at {address}: {exc}") from exc
