"""Import and export: a module's records from and to CSV (or JSON), as people keep them in
spreadsheets.

Import reads a CSV file whose header row names fields (and optionally ``id``, kept as
the record's id). Values are read as people type them (``schema.parse_input``:
``12,50``, ``31.12.2026``, ``ja``); a reference may be an id, a number or an exact
name. Every row is checked before anything is written: a bad row is reported with its
line and field, and nothing is written unless ``skip_bad``. The rows are then created
in batches (``replica.bulk``), one durable commit per 1,000 records.

Export writes ``id`` and every field, money as ``12.50``, dates ISO, yes/no as
``yes``/``no``: importing an export into an empty company gives the same records.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from pathlib import Path
from typing import Annotated, Any

from tqdm import tqdm

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Ref, Text
from roamsync.peer.ops.records import Record, record_id
from roamsync.peer.replica.bulk import create_many
from roamsync.schema import (
    RoamsyncError,
    SchemaError,
    UnknownFieldError,
    UsageError,
    as_typed,
    get_module,
    parse_input,
    validate_fields,
)
from roamsync.schema.modules import SYSTEM_MODULES

FilePath = Annotated[str, Text(4096, nonempty=True)]
SKIPPED_COLUMNS = frozenset({"number", "provisional_number"})  # main gives numbers anew
MAX_REPORTED = 200  # bad rows listed in a report


async def import_records(
    node: Node, module: Ref, file: FilePath, skip_bad: bool = False
) -> dict[str, Any]:
    """Create a record for each row of the CSV ``file``; the per-row report."""
    if module in SYSTEM_MODULES:
        raise UsageError(f"{module} records are written by roamsync itself, not imported")
    mod = get_module(module)
    try:
        text = await asyncio.to_thread(Path(file).read_text, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from None
    header, lines = _rows(text)
    for name in header:
        if name != "id" and name not in SKIPPED_COLUMNS:
            mod.field(name)  # UnknownFieldError names it
    good: list[tuple[str | None, dict[str, object]]] = []
    bad: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, values in lines:
        row = _read_row(node, module, header, values, seen)
        if isinstance(row, dict):
            bad.append({"line": line, **row})
        else:
            good.append(row)
    report: dict[str, Any] = {"rows": len(lines), "bad": bad[:MAX_REPORTED], "bad_rows": len(bad)}
    if bad and not skip_bad:
        return {**report, "imported": 0}
    bar = tqdm(total=len(good), unit="rec", disable=not sys.stderr.isatty(), leave=False)

    def advance(n: int) -> None:
        bar.update(n)

    with bar:
        ids = await create_many(node.peer, module, good, progress=advance)
    return {**report, "imported": len(ids)}


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows (with their line numbers) of a CSV text; ``;`` is
    the delimiter if the header has one and no comma (spreadsheets here write it)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UsageError("the file is empty: the first row names the fields") from None
    except csv.Error as exc:
        raise UsageError(f"line 1: {exc}") from None
    if len(set(header)) != len(header):
        raise UsageError("line 1: a field is named twice")
    rows = []
    try:
        for values in reader:
            if any(v.strip() for v in values):
                rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise UsageError(f"line {reader.line_num}: {exc}") from None
    return header, rows


def _read_row(
    node: Node, module: str, header: list[str], values: list[str], seen: set[str]
) -> tuple[str | None, dict[str, object]] | dict[str, str]:
    """A row as (id or None, fields), or what is wrong with it ({field, error})."""
    mod = get_module(module)
    if len(values) != len(header):
        return {"field": "", "error": f"{len(values)} values for {len(header)} fields"}
    given: str | None = None
    fields: dict[str, object] = {}
    for name, raw in zip(header, values, strict=True):
        if name in SKIPPED_COLUMNS:
            continue
        if name == "id":
            given = raw.strip() or None
            if given is not None and not (len(given) <= 64 and given.isascii()):
                return {"field": "id", "error": f"record id {given!r} is not 1-64 ASCII characters"}
            if given is not None and (given in seen or node.peer.store.state(given)):
                return {"field": "id", "error": f"record {given!r} exists already"}
            continue
        field = mod.field(name)
        try:
            value = parse_input(module, field, raw)
            if field.target and isinstance(value, str):
                value = record_id(node, field.target, value)
            fields[name] = value
        except RoamsyncError as exc:
            return {"field": name, "error": str(exc)}
    try:
        validate_fields(module, fields, creating=True)
    except (SchemaError, UnknownFieldError) as exc:
        return {"field": str(getattr(exc, "field", "")), "error": str(exc)}
    if given is not None:
        seen.add(given)
    return given, fields


def to_csv(module: str, records: list[Record]) -> str:
    """Records as CSV: ``id``, then every field of the module (system ones last)."""
    mod = get_module(module)
    names = ["id", *(n for n, f in mod.fields.items() if not f.system)]
    names += [n for n, f in mod.fields.items() if f.system]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for record in records:
        writer.writerow([as_typed(record.get(name)) for name in names])
    return out.getvalue()
