"""Printing results: tables for people, JSON for programs (``--json``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import orjson

from roamsync.peer.api.wire import to_json


def echo(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """Print rows as a table (or JSON); ``columns``: which, in order (default: all)."""
    if as_json:
        click.echo(to_json(data).decode())
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        click.echo("(none)")
        return
    columns = columns or list(rows[0])
    cells = [[cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


TIMES = frozenset({"ended", "started", "last", "last_seen", "since"})  # unix times, in columns


def cell(value: Any, column: str = "") -> str:
    """A value as a table shows it; a unix time (in the columns that hold one) as local time."""
    if value is None:
        return ""
    if column in TIMES and isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return str(value)
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def conflict_table(rows: list[dict[str, Any]]) -> None:
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


def fields_of(record: dict[str, Any]) -> None:
    """One record, a line per field."""
    for key, value in record.items():
        click.echo(f"{key}: {cell(value)}")
