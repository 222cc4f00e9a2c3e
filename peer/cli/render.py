"""Printing results: tables for people, JSON for programs (``--json``).

Everything printed goes through :func:`say` (or :func:`shout`): names and
values come from other devices, so a character a terminal would act on (an
escape sequence, a bell, a carriage return, a bidi override) is printed as its
escape (``\\x1b``), never raw. ``--json`` output writes such characters as JSON
escapes (``\\u001b``), so a program still reads the exact value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import orjson

from roamsync.peer.api.wire import to_json


def terminal_safe(text: str) -> str:
    """``text`` with every character that is not printable (but the space) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def json_safe(text: str) -> str:
    """JSON text with every non-printable character written as a JSON escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def say(text: str = "", err: bool = False) -> None:
    """Print lines of text, every non-printable character escaped."""
    click.echo("\n".join(terminal_safe(line) for line in text.split("\n")), err=err)


def shout(text: str, fg: str, bold: bool = False, err: bool = False) -> None:
    """:func:`say` in colour."""
    click.secho(terminal_safe(text), fg=fg, bold=bold, err=err)


def echo(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """Print rows as a table (or JSON); ``columns``: which, in order (default: all)."""
    if as_json:
        click.echo(json_safe(to_json(data).decode()))
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        say("(none)")
        return
    columns = columns or list(rows[0])
    cells = [[cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    say("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        say("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


TIMES = frozenset({"ended", "started", "last", "last_seen", "since"})  # unix times, in columns


def cell(value: Any, column: str = "") -> str:
    """A value as a table shows it, escaped (a newline too: one value, one line); a unix
    time (in the columns that hold one) as local time."""
    if value is None:
        return ""
    if column in TIMES and isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return str(value)
    if isinstance(value, list | dict):
        return json_safe(orjson.dumps(value, default=str).decode())
    return terminal_safe(str(value))


def conflict_table(rows: list[dict[str, Any]]) -> None:
    table = [
        {
            "record": r["record"],
            "field": r["field"],
            "values": ", ".join(
                f"[{i}] {v['value']!r} by {cell(v.get('name', v['device']))}"
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
        say(f"{key}: {cell(value)}")
