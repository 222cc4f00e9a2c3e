"""Quote and order lines: a travel device writes lines only on the quotes and orders it
created, and a quote's or order's total is the sum of its live lines.

A line's amount is ``quantity * unit_price * (1 - discount / 100)``, rounded to
cents (half to even), and the total is the sum of the amounts: the same decimal
arithmetic on every replica, so every replica that holds the same lines shows
the same total. A quote or order without lines keeps the total written on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from roamsync.schema import PermissionDeniedError
from roamsync.schema.modules import LINES

CENT = Decimal("0.01")
PARENTS = {parent: (lines, field) for lines, (field, parent) in LINES.items()}


def amount(line: Mapping[str, Any]) -> Decimal:
    quantity = Decimal(str(line.get("quantity") or 0))
    price = Decimal(str(line.get("unit_price") or 0))
    discount = Decimal(str(line.get("discount") or 0))
    return (quantity * price * (100 - discount) / 100).quantize(CENT, ROUND_HALF_EVEN)


def totals(lines: Iterable[Mapping[str, Any]], field: str) -> dict[str, Decimal]:
    """Parent id -> the sum of its lines' amounts."""
    out: dict[str, Decimal] = {}
    for line in lines:
        parent = line.get(field)
        if isinstance(parent, str):
            out[parent] = out.get(parent, Decimal("0.00")) + amount(line)
    return out


def with_totals(
    module: str, records: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Quotes or orders with ``total`` the sum of their lines (those that have lines)."""
    if module not in PARENTS:
        return records
    sums = totals(lines, PARENTS[module][1])
    for record in records:
        if record["id"] in sums:
            record["total"] = sums[record["id"]]
    return records


def check_parent(
    role: str, device: str, module: str, values: Mapping[str, Any], creator_of: Any
) -> None:
    """A travel device writes lines only on quotes and orders it created itself
    (``creator_of(id)``: the creator of a record, or None)."""
    if role != "travel" or module not in LINES:
        return
    field, parent_module = LINES[module]
    parent = values.get(field)
    if parent is not None and creator_of(parent) != device:
        raise PermissionDeniedError(
            f"a travel device adds lines only to {parent_module} it created itself"
        )
