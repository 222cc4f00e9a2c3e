"""Commands for people and data: web users (``roamsync user ...``), import and export,
backup and restore (registered on :data:`~.commands.main`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from roamsync.peer import ops
from roamsync.peer.api.wire import to_json
from roamsync.peer.cli.commands import DIR, JSON, main
from roamsync.peer.cli.render import echo, say
from roamsync.peer.cli.run import invoke, run


@main.group()
def user() -> None:
    """Web users (on main): invite, list, lock, unlock, disable."""


@user.command(name="invite")
@DIR
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "office", "read-only"]), required=True)
@click.option("--name", default="", help="The user's display name.")
@click.option("--expires", default=24.0, show_default=True, help="Hours the code stays valid.")
def user_invite(folder: Path, email: str, role: str, name: str, expires: float) -> None:
    """Invite a web user; prints the single-use acceptance code and its page's path."""
    done = run(invoke(folder, ops.user_invite, email=email, role=role, name=name, hours=expires))
    say(f"invited {done['email']} ({role}); the code, valid {expires:g} h, used once:")
    say(done["code"])
    say(f"the user opens {done['path']} on main's web pages to set a password")


@user.command(name="list")
@DIR
@JSON
def user_list(folder: Path, as_json: bool) -> None:
    """Who is invited, who accepted, who is locked or disabled."""
    columns = ["email", "name", "role", "status", "accepted"]
    echo(run(invoke(folder, ops.users)), as_json, columns)


def _user_status(status: str, doc: str) -> Callable[[Path, str], None]:
    @DIR
    @click.argument("email")
    def command(folder: Path, email: str) -> None:
        done = run(invoke(folder, ops.user_status, email=email, status=status))
        say(f"{done['email']} is {done['status']}")

    command.__doc__ = doc
    return command


user.command(name="lock")(_user_status("locked", "Lock a web user out (an admin unlocks)."))
user.command(name="unlock")(_user_status("active", "Let a locked web user log in again."))
user.command(name="disable")(_user_status("disabled", "Close a web user's account."))


@main.command(name="import")
@DIR
@click.argument("module")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Import the good rows even if some are bad.")
@JSON
def import_(folder: Path, module: str, file: Path, skip_bad: bool, as_json: bool) -> None:
    """Create a MODULE record for each row of a CSV FILE (header row: field names, and
    optionally id). Money as 12.50 or 12,50, dates as 2026-12-31 or 31.12.2026,
    references by id, number or exact name. Nothing is written if a row is bad,
    unless --skip-bad; bad rows are listed with their line and field."""
    args = {"module": module, "file": str(file.resolve()), "skip_bad": skip_bad}
    report = run(invoke(folder, ops.import_records, **args))
    if as_json:
        echo(report, True)
    else:
        for row in report["bad"]:
            say(f"line {row['line']}: {row['field'] or '-'}: {row['error']}", err=True)
        if report["bad_rows"] > len(report["bad"]):
            say(f"... and {report['bad_rows'] - len(report['bad'])} more bad rows", err=True)
        say(f"imported {report['imported']} of {report['rows']} rows into {module}")
    if report["bad_rows"] and not skip_bad:
        if not as_json:
            say("nothing was imported: fix the rows above, or import the rest with --skip-bad")
        raise SystemExit(2)


@main.command()
@DIR
@click.argument("module")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
def export(folder: Path, module: str, fmt: str, output: Path | None) -> None:
    """Write a module's live records as CSV (id and every field) or JSON; import reads
    the CSV back."""
    records = run(invoke(folder, ops.list_records, module=module))
    text = ops.to_csv(module, records) if fmt == "csv" else to_json(records).decode() + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        say(f"wrote {len(records)} {module} records to {output}", err=True)


@main.command()
@DIR
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(folder: Path, file: Path) -> None:
    """Copy DIR (store, configuration, keys) into FILE, consistently, even while serve runs.

    FILE is as secret as DIR (mode 0600). `roamsync restore FILE NEWDIR` brings it back."""
    done = run(invoke(folder, ops.backup, file=str(file.resolve())))
    say(f"backed up {done['records']} records to {done['file']} ({done['bytes']:,} bytes)")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@DIR
def restore(file: Path, folder: Path) -> None:
    """Make the new data directory DIR from a backup FILE; then `roamsync serve DIR`.

    It rejoins the company as the same device with a new store: its peers send it
    everything changed since the backup (deletions included). A restored main gives
    no final number until it has synced with every active device (status says whom
    it waits for), so no number is handed out twice."""
    done = run(ops.restore_directory(folder, str(file)))
    say(f"restored {done['device']} ({done['role']}) into {done['folder']}")
