"""Setting a company and its devices up: the profile, invite, join, disconnect, init, repair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Name, Range, Ref, Text
from roamsync.peer.org import company as profile
from roamsync.peer.org import registry
from roamsync.peer.org.backup import backup as backup_directory
from roamsync.peer.org.backup import hold_repaired
from roamsync.peer.org.backup import restore as restore_directory
from roamsync.peer.org.config import Config, load_config
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.peer.replica.repair import RepairReport, repair_store
from roamsync.schema import UsageError

NewRole = Literal["office", "travel"]
InvitationSeconds = Annotated[float, Range(60, registry.MAX_TTL, "seconds")]
Role = Literal["main", "office", "travel"]


async def company(node: Node) -> dict[str, Any]:
    """The company profile and what enrolment still needs."""
    return {"profile": profile.profile(node.peer), "missing": profile.missing(node.peer)}


async def register_company(
    node: Node,
    name: Name | None = None,
    address: Name | None = None,
    phone: Name | None = None,
    email: Name | None = None,
    org_number: Name | None = None,
) -> dict[str, Any]:
    """On main: register or change the company profile (the fields given); the profile."""
    given = {"name": name, "address": address, "phone": phone, "email": email}
    fields = {k: v for k, v in (given | {"org_number": org_number}).items() if v is not None}
    await profile.set_profile(node.peer, fields)
    return await company(node)


async def invite(
    node: Node, role: NewRole = "office", ttl: InvitationSeconds = registry.DEFAULT_TTL
) -> dict[str, str]:
    """On main: a single-use enrolment code for a new device, valid ``ttl`` seconds."""
    if node.config.sample:
        raise UsageError("this is a sample company: it never syncs")
    profile.check_criteria(node.peer)
    code = registry.invite(node.peer, node.identity.fingerprint, role, ttl)
    return {"code": code}


async def disconnect(node: Node, device: Ref) -> dict[str, str]:
    """On main: revoke a device (by name or id); its data stays."""
    entry = await registry.revoke(node.peer, device)
    return {"device": entry.device, "name": entry.name, "status": entry.status}


async def join(folder: Path, code: str, peer: str) -> Config:
    """Enrol the device in ``folder`` with main at ``peer`` (host:port), using a code from
    ``invite``. Its context is a directory, not a node: it has not joined a company yet."""
    return await join_company(folder, code, peer)


async def init(folder: Path, name: Name, role: Role, company_name: Name, **options: Any) -> Config:
    """Create a device in ``folder``: its key, certificate and configuration; on main,
    the company (``options``: those of :func:`~roamsync.peer.org.enrolment.init_directory`)."""
    return await init_directory(folder, name=name, role=role, company_name=company_name, **options)


async def repair(folder: Path, force: bool = False) -> RepairReport:
    """Rebuild a damaged store (``serve`` stopped): keep the damaged file, salvage its
    records, re-sync the rest (``force``: a store that is not damaged too)."""
    config = load_config(folder)
    report = await repair_store(
        folder, device=config.device, role=config.role, label=config.name, force=force
    )
    if config.enrolled:  # what the damage took may hold numbers: wait as a restore does
        hold_repaired(folder)
    return report


FilePath = Annotated[str, Text(4096, nonempty=True)]  # a file's path, as the user gave it


async def backup(node: Node, file: FilePath) -> dict[str, Any]:
    """A consistent copy of this data directory (store, configuration, keys) in one new
    file, mode 0600; it can be made while ``serve`` runs."""
    return backup_directory(node.peer, node.folder, Path(file))


async def restore(folder: Path, file: FilePath) -> dict[str, Any]:
    """Make the new data directory ``folder`` from a backup: it rejoins the company with
    a new store id and client id, and a restored main numbers nothing until it has
    synced with every active device (peer/org/backup.py)."""
    return restore_directory(Path(file), folder)
