"""The ``roamsync`` command line (click).

Record commands talk to the daemon's local API when ``roamsync serve`` runs on
the same directory, and open the store directly when it does not (one
process at a time holds a directory's store).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import logging.handlers
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from tqdm import tqdm

from roamsync.peer import company, journal, registry
from roamsync.peer.api import (
    ApiClient,
    company_info,
    conflict_rows,
    daemon_info,
    device_rows,
    node_status,
    start_api,
    to_json,
)
from roamsync.peer.api import resolve as api_resolve
from roamsync.peer.config import DAEMON, LOG, load_config
from roamsync.peer.enrolment import init_directory, join_company
from roamsync.peer.node import Node
from roamsync.peer.repair import RepairReport, repair_store
from roamsync.peer.store import SqliteStore
from roamsync.schema import FieldType, RoamsyncError, StoreDamagedError, UsageError, get_module

T = TypeVar("T")
log = logging.getLogger("roamsync")

DIR = click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; roamsync errors become a one-line message and exit 1."""
    try:
        return asyncio.run(coro)
    except RoamsyncError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def run_criteria(coro: Coroutine[Any, Any, T]) -> T:
    """Like run, but list missing connection criteria one per line, in red on a terminal."""
    try:
        return asyncio.run(coro)
    except (company.CriteriaError, RoamsyncError) as exc:
        missing = getattr(exc, "missing", None)
        if missing is None and "the company profile is incomplete" in str(exc):
            missing = str(exc).split("missing: ", 1)[1].split(", ")
        if not missing:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
        click.echo(
            "The company profile is incomplete. Register first (roamsync company):", err=True
        )
        for item in missing:
            click.secho(f"  missing: {item}", fg="red", err=True)
        raise SystemExit(1) from exc


async def with_node(folder: Path, fn: Callable[[Node], Awaitable[T]]) -> T:
    """Run ``fn`` on the directory's node, opened directly (no daemon running)."""
    node = await Node.open(folder)
    try:
        return await fn(node)
    finally:
        await node.stop()


async def call(
    folder: Path, api: tuple[str, str, Any], direct: Callable[[Node], Awaitable[T]]
) -> Any:
    """Through the daemon if it runs on ``folder``, else directly."""
    info = daemon_info(folder)
    if info is not None:
        method, path, body = api
        return await ApiClient(info).call(method, path, body)
    return await with_node(folder, direct)


def echo(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        click.echo(to_json(data).decode())
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        click.echo("(none)")
        return
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value > 1e9:  # a unix time
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    return str(value)


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
        init_directory(
            folder,
            name=name,
            role=role,
            company_name=company_name,
            listen=listen,
            port=port,
            peers=list(peers),
            discovery=not no_discovery,
            profile={k: v for k, v in given.items() if v},
            sample=sample,
        )
    )
    click.echo(f"created {role} device {name} ({config.device}) in {folder}")
    if sample:
        click.echo("filled it with a sample company; a sample company never syncs")
    if role != "main":
        click.echo("next: `roamsync invite` on main, then here")
        click.echo("      `roamsync join DIR CODE --peer HOST:PORT`")


@main.command()
@DIR
@click.option("--peer", "peers", multiple=True, help="host:port of a peer to dial (repeatable).")
@click.option("--no-discovery", is_flag=True, help="Do not use zeroconf.")
@click.option(
    "--anti-entropy", type=float, default=None, help="Seconds between repair passes [15]."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar for large syncs [on a terminal].",
)
def serve(
    folder: Path,
    peers: tuple[str, ...],
    no_discovery: bool,
    anti_entropy: float | None,
    progress: bool | None,
) -> None:
    """Run the device headless: sync with peers until SIGTERM or Ctrl-C."""
    _log_to_file(folder)
    show = sys.stderr.isatty() if progress is None else progress
    run(_serve(folder, list(peers), not no_discovery, anti_entropy, show))


def _log_to_file(folder: Path) -> None:
    """The trace log: roamsync's own debug lines (every frame, merge and refusal) and
    other libraries' info, in DIR/roamsync.log, rotated at 5 MB, 3 files kept;
    warnings also on stderr."""
    handler = logging.handlers.RotatingFileHandler(folder / LOG, maxBytes=5 << 20, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    for existing in root.handlers:
        existing.setLevel(max(existing.level, logging.WARNING))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("roamsync").setLevel(logging.DEBUG)


async def _serve(
    folder: Path,
    peers: list[str],
    discovery: bool,
    anti_entropy: float | None,
    progress: bool,
) -> None:
    node = await Node.open(folder)
    if node.config.offline and peers:
        await node.stop()
        raise UsageError("sync settings are locked while working offline (roamsync online)")
    if anti_entropy is not None:
        node.config.anti_entropy = anti_entropy
    bars = ProgressBars() if progress else None
    if bars is not None:
        node.on_progress = bars.update
    node.config.peers = [*node.config.peers, *(p for p in peers if p not in node.config.peers)]
    stop = asyncio.Event()
    damage: list[StoreDamagedError] = []

    def damaged(exc: StoreDamagedError) -> None:  # found while serving: stop, and say so
        damage.append(exc)
        stop.set()

    if isinstance(node.peer.store, SqliteStore):
        node.peer.store.on_damage = damaged
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = None
    try:
        await node.start(discovery=discovery and node.config.discovery)
        runner = await start_api(node)
        click.echo(
            f"serving {node.config.name} ({node.peer.role}) on {node.config.listen}:{node.port}"
        )
        sys.stdout.flush()
        await stop.wait()
        log.info("shutting down")
    finally:
        if bars is not None:
            bars.close()
        if runner is not None:
            await runner.cleanup()
        await node.stop()
        with contextlib.suppress(FileNotFoundError):
            (folder / DAEMON).unlink()
    if damage:
        raise damage[0]


class ProgressBars:
    """One tqdm bar per peer while a large sync runs: records done of total, rate, time left."""

    THRESHOLD = 100  # smaller syncs finish before a bar would be any use

    def __init__(self) -> None:
        self.bars: dict[str, tqdm[Any]] = {}

    def update(self, device: str, done: int, total: int) -> None:
        bar = self.bars.get(device)
        if bar is None:
            if total - done < self.THRESHOLD:
                return
            bar = self.bars[device] = tqdm(
                total=total, desc=f"sync {device}", unit=" records", file=sys.stderr
            )
        bar.total = max(bar.total or 0, total)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self.bars[device]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


@main.command()
@DIR
@click.option(
    "--role", type=click.Choice(["office", "travel"]), default="office", show_default=True
)
@click.option("--expires", default=24.0, show_default=True, help="Hours the code stays valid.")
def invite(folder: Path, role: str, expires: float) -> None:
    """On main: print a single-use enrolment code for a new device."""

    async def direct(node: Node) -> Any:
        if node.config.sample:
            raise UsageError("this is a sample company: it never syncs")
        company.check_criteria(node.peer)
        return {"code": registry.invite(node.peer, node.identity.fingerprint, role, expires * 3600)}

    result = run_criteria(
        call(folder, ("POST", "/invite", {"role": role, "ttl": expires * 3600}), direct)
    )
    click.echo(result["code"])


@main.command()
@DIR
@click.argument("code")
@click.option("--peer", "address", required=True, help="host:port of the main device.")
def join(folder: Path, code: str, address: str) -> None:
    """Enrol this device in a company with a code from `roamsync invite`."""
    config = run_criteria(join_company(folder, code, address))
    click.echo(f"joined {config.company_name} as {config.role} device {config.name}")


@main.command()
@DIR
@click.argument("device")
def disconnect(folder: Path, device: str) -> None:
    """On main: revoke a device (by name or id); its data stays."""

    async def direct(node: Node) -> Any:
        entry = await registry.revoke(node.peer, device)
        return {"device": entry.device, "name": entry.name, "status": entry.status}

    result = run(call(folder, ("POST", "/disconnect", {"device": device}), direct))
    click.echo(f"disconnected {result['name']} ({result['device']})")


@main.command()
@DIR
@JSON
def devices(folder: Path, as_json: bool) -> None:
    """The company's devices: role, online or not, last seen."""

    async def direct(node: Node) -> Any:
        return device_rows(node)

    rows = run(call(folder, ("GET", "/devices", None), direct))
    echo(
        rows, as_json, ["name", "device", "role", "status", "online", "offline_since", "last_seen"]
    )


@main.command()
@DIR
@JSON
def status(folder: Path, as_json: bool) -> None:
    """This device and its sync peers."""

    async def direct(node: Node) -> Any:
        return node_status(node)

    info = run(call(folder, ("GET", "/status", None), direct))
    if as_json:
        echo(info, True)
        return
    running = daemon_info(folder) is not None
    health, reason = info["health"], info["reason"]
    if not running and not info.get("offline_since"):
        health, reason = "red", "the daemon is not running (roamsync serve)"
    click.echo(f"{info['name']} ({info['role']}) of {info['company']}")
    click.secho(f"{health.upper()}: {reason}", fg=health, bold=True)
    click.echo(f"local changes: {info['changes']}")
    if info["peers"]:
        echo(info["peers"], False, ["device", "connected", "address", "behind", "last_error"])


def _parse_assignments(module: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    mod = get_module(module)
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not FIELD=VALUE")
        fields[name] = _parse_value(mod.field(name).type, text)
    return fields


def _parse_value(kind: FieldType, text: str) -> Any:
    if text == "":
        return None
    if kind is FieldType.NUMBER:
        try:
            return int(text)
        except ValueError:
            return float(text)
    if kind is FieldType.BOOL:
        return text.lower() in ("1", "true", "yes", "y")
    return text


@main.command()
@DIR
@click.argument("module")
@click.argument("assignments", nargs=-1, metavar="FIELD=VALUE...")
@click.option("--id", "record_id", help="Update this record instead of creating one.")
def put(folder: Path, module: str, assignments: tuple[str, ...], record_id: str | None) -> None:
    """Create a record (prints its id) or, with --id, update one."""
    try:
        fields = _parse_assignments(module, assignments)
    except RoamsyncError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc

    async def direct(node: Node) -> Any:
        if record_id is None:
            return {"id": await node.peer.create(module, fields)}
        await node.peer.update(module, record_id, fields)
        return {"id": record_id}

    api = (
        ("POST", f"/records/{module}", fields)
        if record_id is None
        else ("PATCH", f"/records/{module}/{record_id}", fields)
    )
    click.echo(run(call(folder, api, direct))["id"])


@main.command()
@DIR
@click.argument("module")
@click.argument("record_id", metavar="ID")
@JSON
def get(folder: Path, module: str, record_id: str, as_json: bool) -> None:
    """Show one record."""

    async def direct(node: Node) -> Any:
        return node.peer.get(module, record_id)

    record = run(call(folder, ("GET", f"/records/{module}/{record_id}", None), direct))
    if as_json:
        echo(record, True)
    else:
        for key, value in record.items():
            click.echo(f"{key}: {_cell(value)}")


@main.command(name="list")
@DIR
@click.argument("module")
@JSON
def list_(folder: Path, module: str, as_json: bool) -> None:
    """List the live records of a module."""

    async def direct(node: Node) -> Any:
        return node.peer.list(module)

    echo(run(call(folder, ("GET", f"/records/{module}", None), direct)), as_json)


@main.command()
@DIR
@click.option("--pending", is_flag=True, help="Only those waiting for a manual decision.")
@JSON
def conflicts(folder: Path, pending: bool, as_json: bool) -> None:
    """The conflict log: open conflicts and those of the last 7 days."""

    async def direct(node: Node) -> Any:
        return conflict_rows(node)

    rows = run(call(folder, ("GET", "/conflicts", None), direct))
    if pending:
        rows = [r for r in rows if r["status"] == "pending"]
    if as_json:
        echo(rows, True)
    else:
        _conflict_table(rows)


def _conflict_table(rows: list[dict[str, Any]]) -> None:
    table = [
        {
            "record": r["record"],
            "field": r["field"],
            "values": ", ".join(
                f"[{i}] {v['value']!r} by {v.get('name', v['device'])}"
                for i, v in enumerate(r["values"])
            ),
            "winner": r["winner"]["value"],
            "policy": r["policy"],
            "status": r["status"],
        }
        for r in rows
    ]
    echo(table, False)


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
    fields = {k: v for k, v in fields.items() if v is not None}

    async def direct(node: Node) -> Any:
        if fields:
            await company.set_profile(node.peer, fields)
        return company_info(node)

    api = ("POST", "/company", fields) if fields else ("GET", "/company", None)
    info = run(call(folder, api, direct))
    if as_json:
        echo(info, True)
        return
    for key, value in info["profile"].items():
        if key != "id":
            click.echo(f"{key}: {_cell(value)}")
    for item in info["missing"]:
        click.secho(f"missing: {item}", fg="red")


@main.command()
@DIR
@click.option("--force", is_flag=True, help="Go offline even if no peer is reachable.")
@click.option("--timeout", "within", default=30.0, show_default=True, help="Seconds for the sync.")
def offline(folder: Path, force: bool, within: float) -> None:
    """Check out: a final sync, then work offline (sync settings locked)."""

    async def direct(node: Node) -> Any:
        await node.start()
        return await node.check_out(within, force=force)

    body = {"force": force, "within": within}
    result = run(call(folder, ("POST", "/offline", body), direct))
    synced = ", ".join(result["synced_with"]) or "nobody (forced)"
    click.echo(f"working offline since {result['offline_since']}; final sync with {synced}")


@main.command()
@DIR
@click.option(
    "--policy",
    type=click.Choice(["central", "local", "latest", "manual"]),
    default="central",
    show_default=True,
    help="How this device's conflicts are settled.",
)
@click.option("--timeout", "within", default=30.0, show_default=True, help="Seconds for the sync.")
@JSON
def online(folder: Path, policy: str, within: float, as_json: bool) -> None:
    """Check in: sync, settle this device's conflicts by the policy, clear the offline flag."""

    async def direct(node: Node) -> Any:
        await node.start()
        return await node.check_in(policy, within)

    result = run(call(folder, ("POST", "/online", {"policy": policy, "within": within}), direct))
    if as_json:
        echo(result, True)
        return
    click.echo(f"back online; synced with {', '.join(result['synced_with'])}")
    click.echo(f"uploaded {result['uploaded']} records, downloaded {result['downloaded']}")
    click.echo(f"conflicts settled by policy {policy}: {result['settled']}")
    _conflict_table(result["conflicts"])


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
    body = {"record": record, "field": field, "pick": pick, "value": value}

    async def direct(node: Node) -> Any:
        return await api_resolve(node, body)

    result = run(call(folder, ("POST", "/resolve", body), direct))
    click.echo(f"{field} = {_cell(result.get(field))}")


@main.command(name="log")
@DIR
@JSON
def log_(folder: Path, as_json: bool) -> None:
    """The sync log: the latest 20 sessions with each peer."""

    async def direct(node: Node) -> Any:
        return journal.sync_log(node.peer)

    rows = run(call(folder, ("GET", "/log", None), direct))
    echo(rows, as_json, ["ended", "peer", "status", "sent", "received", "error"])


@main.command()
@DIR
@JSON
def history(folder: Path, as_json: bool) -> None:
    """Records uploaded and downloaded per day over the last 7 days."""

    async def direct(node: Node) -> Any:
        return journal.history(node.peer)

    echo(
        run(call(folder, ("GET", "/history", None), direct)),
        as_json,
        ["day", "peer", "up", "down", "last"],
    )


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
    try:
        config = load_config(folder)
    except RoamsyncError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    report = run(
        repair_store(folder, device=config.device, role=config.role, label=config.name, force=force)
    )
    _print_repair(folder, report, config.device)


def _print_repair(folder: Path, report: RepairReport, device: str) -> None:
    click.echo(f"kept the damaged store in {report.aside}")
    if report.owner not in (None, device):
        click.echo(f"it was the store of device {report.owner}, not this one: salvaged nothing")
    click.echo(
        f"read {report.pages} pages: {report.versions} record versions, "
        f"{report.unreadable} unreadable"
    )
    click.echo(f"salvaged {report.records} records into a new store ({report.store_id}):")
    for module, n in report.modules.items():
        click.echo(f"  {module}: {n}")
    click.echo(
        f"next: `roamsync serve {folder}`; at the first sync the peers send this device every "
        "record again, which brings back what the damage took"
    )


def entry() -> None:
    """Console entry point."""
    try:
        main()
    except UsageError as exc:  # pragma: no cover - click handles most
        raise SystemExit(f"UsageError: {exc}") from exc
