"""The ``roamsync`` commands (click), each one operation of :mod:`roamsync.peer.ops`.

Record and sync commands run through the daemon's local API when ``roamsync
serve`` runs on the same directory, and on the directory itself when it does
not (:func:`~roamsync.peer.cli.run.invoke`).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any, cast

import click

from roamsync.peer import ops
from roamsync.peer.cli.render import cell, conflict_table, echo, fields_of, say, shout
from roamsync.peer.cli.run import fail, invoke, run
from roamsync.peer.ops.records import Record
from roamsync.peer.ops.setup import Role
from roamsync.peer.org.registry import DEFAULT_TTL, MAX_TTL
from roamsync.peer.replica.repair import RepairReport
from roamsync.schema import (
    InvalidArgumentError,
    RoamsyncError,
    get_module,
    parse_input,
)

DIR = click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
POLICY = click.Choice(["central", "local", "latest", "manual"])
TIMEOUT = click.option(
    "--timeout", "within", default=30.0, show_default=True, help="Seconds for the sync."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """roamsync: peer-to-peer sync of a company database between its devices."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)


@main.command()
@DIR
@click.option("--device", "name", required=True, help="This device's name, unique in the company.")
@click.option("--role", type=click.Choice(["main", "office", "travel"]), required=True)
@click.option("--company", "company_name", required=True, help="The company's name.")
@click.option("--port", type=int, default=7420, show_default=True, help="Sync port (0: any).")
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen and announce on. Loopback by default; give a LAN address to expose it.",
)
@click.option("--peer", "peers", multiple=True, help="host:port of a peer to dial (repeatable).")
@click.option("--no-discovery", is_flag=True, help="Do not use zeroconf.")
@click.option("--address", help="Company's full address (main).")
@click.option("--phone", help="Company's phone (main).")
@click.option("--email", help="Company's e-mail (main).")
@click.option("--org-number", help="Company's organisation number (main).")
@click.option("--sample", is_flag=True, help="A sample company with demo data; it never syncs.")
def init(
    folder: Path,
    name: str,
    role: str,
    company_name: str,
    port: int,
    listen: str,
    peers: tuple[str, ...],
    no_discovery: bool,
    address: str | None,
    phone: str | None,
    email: str | None,
    org_number: str | None,
    sample: bool,
) -> None:
    """Create a device: its key, certificate and configuration in DIR."""
    if sample and role != "main":
        raise click.BadParameter(
            "a sample company is created with --role main", param_hint="--sample"
        )
    given = {"address": address, "phone": phone, "email": email, "org_number": org_number}
    config = run(
        ops.init(
            folder,
            name,
            cast("Role", role),  # click.Choice checked it
            company_name,
            listen=listen,
            port=port,
            peers=list(peers),
            discovery=not no_discovery,
            profile={k: v for k, v in given.items() if v},
            sample=sample,
        )
    )
    say(f"created {role} device {name} ({config.device}) in {folder}")
    if sample:
        say("filled it with a sample company; a sample company never syncs")
    if role != "main":
        say("next: `roamsync invite` on main, then here")
        say("      `roamsync join DIR CODE --peer HOST:PORT`")


@main.command()
@DIR
@click.option(
    "--role", type=click.Choice(["office", "travel"]), default="office", show_default=True
)
@click.option(
    "--expires", default=DEFAULT_TTL / 3600, show_default=True, help="Hours the code stays valid."
)
def invite(folder: Path, role: str, expires: float) -> None:
    """On main: print a single-use enrolment code for a new device."""
    if not (math.isfinite(expires) and 1 / 60 <= expires <= MAX_TTL / 3600):
        fail(InvalidArgumentError("--expires", f"hours from 1 minute to 30 days, not {expires}"))
    result = run(invoke(folder, ops.invite, role=role, ttl=expires * 3600))
    say(result["code"])


@main.command()
@DIR
@click.argument("code")
@click.option("--peer", "address", required=True, help="host:port of the main device.")
def join(folder: Path, code: str, address: str) -> None:
    """Enrol this device in a company with a code from `roamsync invite`."""
    config = run(ops.join(folder, code, address))
    say(f"joined {config.company_name} as {config.role} device {config.name}")


@main.command()
@DIR
@click.argument("device")
def disconnect(folder: Path, device: str) -> None:
    """On main: revoke a device (by name or id); its data stays."""
    result = run(invoke(folder, ops.disconnect, device=device))
    say(f"disconnected {result['name']} ({result['device']})")


@main.command()
@DIR
@JSON
def devices(folder: Path, as_json: bool) -> None:
    """The company's devices: role, online or not, last seen."""
    rows = run(invoke(folder, ops.devices))
    columns = ["name", "device", "role", "status", "online", "offline_since", "last_seen"]
    echo(rows, as_json, columns)


@main.command()
@DIR
@JSON
def status(folder: Path, as_json: bool) -> None:
    """This device and its sync peers."""
    info = run(invoke(folder, ops.status))
    if as_json:
        echo(info, True)
        return
    say(f"{info['name']} ({info['role']}) of {info['company']}")
    shout(f"{info['health'].upper()}: {info['reason']}", fg=info["health"], bold=True)
    say(f"local changes: {info['changes']}")
    if info["peers"]:
        echo(info["peers"], False, ["name", "connected", "address", "behind", "last_error"])


def _parse_assignments(module: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    """FIELD=VALUE pairs as typed: numbers, money, dates and yes/no read as people write
    them (``schema.parse_input``); an empty value clears the field."""
    mod = get_module(module)
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not FIELD=VALUE")
        fields[name] = parse_input(module, mod.field(name), text)
    return fields


@main.command()
@DIR
@click.argument("module")
@click.argument("assignments", nargs=-1, metavar="FIELD=VALUE...")
@click.option("--id", "record_id", help="Update this record instead of creating one.")
def put(folder: Path, module: str, assignments: tuple[str, ...], record_id: str | None) -> None:
    """Create a record (prints its id, and a quote's or order's number on standard error)
    or, with --id (an id, number or name), update one."""
    try:
        fields = _parse_assignments(module, assignments)
    except RoamsyncError as exc:
        fail(exc)
    if record_id is None:
        result = run(invoke(folder, ops.create, module=module, fields=fields))
    else:
        result = run(invoke(folder, ops.update, module=module, id=record_id, fields=fields))
    say(result["id"])  # alone on standard output: scripts read it
    if result.get("number"):
        say(f"number {result['number']}", err=True)


@main.command()
@DIR
@click.argument("module")
@click.argument("record_id", metavar="REF")
@JSON
def get(folder: Path, module: str, record_id: str, as_json: bool) -> None:
    """Show one record: REF is its id, a quote's or order's number (final or provisional,
    e.g. 12 or P-anna-2), or its exact name."""
    record: Record = run(invoke(folder, ops.get, module=module, id=record_id, labels=not as_json))
    if as_json:
        echo(record, True)
    else:
        fields_of(record)


@main.command()
@DIR
@click.argument("module")
@click.argument("record_id", metavar="REF")
@JSON
def changes(folder: Path, module: str, record_id: str, as_json: bool) -> None:
    """Who changed what in a record, newest first: each device's latest write of each
    field, with the web user who made it (if any), the device and the time (UTC)."""
    rows = run(invoke(folder, ops.changes, module=module, id=record_id))
    echo(rows, as_json, ["time", "field", "value", "user", "name", "role"])


@main.command()
@DIR
@click.argument("module")
@click.argument("record_id", metavar="REF")
def delete(folder: Path, module: str, record_id: str) -> None:
    """Delete a record (`roamsync undelete` brings it back, with every edit it had)."""
    done = run(invoke(folder, ops.delete, module=module, id=record_id))
    say(f"deleted {module} {done['id']}")


@main.command()
@DIR
@click.argument("module")
@click.argument("record_id", metavar="REF")
def undelete(folder: Path, module: str, record_id: str) -> None:
    """Bring back a deleted record (REF: its id, or a quote's or order's number)."""
    run(invoke(folder, ops.restore, module=module, id=record_id))
    say(f"restored {module} {record_id}")


@main.command(name="list")
@DIR
@click.argument("module")
@JSON
def list_(folder: Path, module: str, as_json: bool) -> None:
    """List the live records of a module."""
    echo(run(invoke(folder, ops.list_records, module=module, labels=not as_json)), as_json)


@main.command()
@DIR
@click.argument("module")
@click.argument("text")
@JSON
def find(folder: Path, module: str, text: str, as_json: bool) -> None:
    """Search a module's text fields: records holding every word of TEXT (the start of a
    word, any case, accents ignored), best matches first, at most 50."""
    echo(run(invoke(folder, ops.search, module=module, text=text)), as_json)


@main.command()
@DIR
@click.option("--pending", is_flag=True, help="Only those waiting for a manual decision.")
@JSON
def conflicts(folder: Path, pending: bool, as_json: bool) -> None:
    """The conflict log: open conflicts and those of the last 7 days."""
    rows = run(invoke(folder, ops.conflicts, pending=pending))
    if as_json:
        echo(rows, True)
    else:
        conflict_table(rows)


@main.command()
@DIR
@JSON
def rejections(folder: Path, as_json: bool) -> None:
    """Writes from other devices that broke the permission matrix and were ignored."""
    echo(
        run(invoke(folder, ops.rejections)),
        as_json,
        ["time", "device", "module", "record", "reason"],
    )


@main.command(name="company")
@DIR
@click.option("--name", help="Company name.")
@click.option("--address", help="Full address.")
@click.option("--phone", help="Phone.")
@click.option("--email", help="E-mail.")
@click.option("--org-number", help="Organisation number.")
@JSON
def company_(
    folder: Path,
    name: str | None,
    address: str | None,
    phone: str | None,
    email: str | None,
    org_number: str | None,
    as_json: bool,
) -> None:
    """Show the company profile, or register it (on main) with the options given."""
    fields = {"name": name, "address": address, "phone": phone, "email": email}
    fields["org_number"] = org_number
    given = {k: v for k, v in fields.items() if v is not None}
    info = run(
        invoke(folder, ops.register_company, **given) if given else invoke(folder, ops.company)
    )
    if as_json:
        echo(info, True)
        return
    for key, value in info["profile"].items():
        if key != "id":
            say(f"{key}: {cell(value)}")
    for item in info["missing"]:
        shout(f"missing: {item}", fg="red")


@main.command()
@DIR
@click.option("--force", is_flag=True, help="Go offline even if no peer is reachable.")
@TIMEOUT
def offline(folder: Path, force: bool, within: float) -> None:
    """Check out: a final sync, then work offline (sync settings locked)."""
    result = run(invoke(folder, ops.offline, force=force, within=within))
    synced = ", ".join(result["synced_with"]) or "nobody (forced)"
    say(f"working offline since {result['offline_since']}; final sync with {synced}")


@main.command()
@DIR
@click.option(
    "--policy",
    type=POLICY,
    default="central",
    show_default=True,
    help="How this device's conflicts are settled.",
)
@TIMEOUT
@JSON
def online(folder: Path, policy: str, within: float, as_json: bool) -> None:
    """Check in: sync, settle this device's conflicts by the policy, clear the offline flag."""
    result = run(invoke(folder, ops.online, policy=policy, within=within))
    if as_json:
        echo(result, True)
        return
    say(f"back online; synced with {', '.join(result['synced_with'])}")
    say(f"uploaded {result['uploaded']} records changed here, downloaded {result['downloaded']}")
    say(f"conflicts settled by policy {result['policy']}: {result['settled']}")
    if result["policy"] != policy:
        say(f"(the policy chosen when this check-in began: {result['policy']})")
    if not result["told_peers"]:
        say("the others see that this device is back when it next syncs with them")
    conflict_table(result["conflicts"])


@main.command()
@DIR
@click.argument("record")
@click.argument("field")
@click.option(
    "--pick", type=int, help="Keep competing value number N (as `conflicts` lists them, from 0)."
)
@click.option("--value", help="Write this value instead.")
def resolve(folder: Path, record: str, field: str, pick: int | None, value: str | None) -> None:
    """Settle a pending conflict by hand."""
    if (pick is None) == (value is None):
        raise click.UsageError("give exactly one of --pick N and --value V")
    result = run(invoke(folder, ops.resolve, record=record, field=field, pick=pick, value=value))
    say(f"{field} = {cell(result.get(field))}")


@main.command(name="log")
@DIR
@JSON
def log_(folder: Path, as_json: bool) -> None:
    """The sync log: the latest 20 sessions with each peer."""
    rows = run(invoke(folder, ops.log))
    echo(rows, as_json, ["ended", "name", "status", "sent", "received", "error"])


@main.command()
@DIR
@JSON
def history(folder: Path, as_json: bool) -> None:
    """Records uploaded and downloaded per day over the last 7 days."""
    echo(run(invoke(folder, ops.history)), as_json, ["day", "name", "up", "down", "last"])


@main.command()
@DIR
@click.option(
    "--force", is_flag=True, help="Rebuild even a store that is not damaged (its -wal was lost)."
)
def repair(folder: Path, force: bool) -> None:
    """Rebuild a damaged store: keep the damaged file, salvage its records, re-sync the rest.

    Stop `roamsync serve` on DIR first. The damaged files are moved to
    DIR/damaged-<time>/ and kept; every record still readable goes into a new
    store; at the next sync the peers send this device everything again.
    """
    _print_repair(folder, run(ops.repair(folder, force)))


def _print_repair(folder: Path, report: RepairReport) -> None:
    say(f"kept the damaged store in {report.aside}")
    if report.owner not in (None, report.device):
        say(f"it was the store of device {report.owner}, not this one: salvaged nothing")
    say(
        f"read {report.pages} pages: {report.versions} record versions, "
        f"{report.unreadable} unreadable"
    )
    say(f"salvaged {report.records} records into a new store ({report.store_id}):")
    for module, n in report.modules.items():
        say(f"  {module}: {n}")
    say(
        f"next: `roamsync serve {folder}`; at the first sync the peers send this device every "
        "record again, which brings back what the damage took"
    )
