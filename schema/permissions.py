"""Device roles and the offline permission matrix, as data.

Only a ``travel`` device is restricted; ``main`` and ``office`` may do
everything. ``OWN`` means "only records this device created itself", which
for quotes and orders are the ones it created while travelling.

>>> allowed("travel", "orders", "edit", own=False)
False
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Literal, get_args

from roamsync.schema.errors import PermissionDeniedError

Role = Literal["main", "office", "travel"]
Operation = Literal["read", "edit", "create", "delete"]
ROLES: tuple[Role, ...] = get_args(Role)


class Rule(Enum):
    YES = "yes"
    NO = "no"
    OWN = "own"


Y, N, OWN = Rule.YES, Rule.NO, Rule.OWN

# module: (read, edit, create, delete); "sync back" is yes exactly where a write is allowed.
TRAVEL_MATRIX: dict[str, tuple[Rule, Rule, Rule, Rule]] = {
    "contacts": (Y, Y, Y, N),
    "contact_persons": (Y, Y, Y, N),
    "documents": (Y, Y, Y, Y),
    "activities": (Y, Y, Y, Y),
    "products": (Y, N, N, N),
    "stock": (Y, N, N, N),
    "quotes": (Y, OWN, Y, OWN),
    "orders": (Y, OWN, Y, OWN),
    "quote_lines": (Y, OWN, Y, OWN),  # and only on quotes it created (replica.lines)
    "order_lines": (Y, OWN, Y, OWN),  # and only on orders it created
    "invoices": (Y, N, N, N),
    "projects": (Y, N, N, N),
    "time_registrations": (Y, N, N, N),
    "devices": (Y, N, N, N),
    "company": (Y, N, N, N),
    "seals": (Y, N, N, N),
    "users": (Y, N, N, N),
    "device_status": (Y, OWN, Y, OWN),
}
# Modules only main may write, whatever the role of the writer otherwise allows.
MAIN_ONLY = frozenset({"devices", "company", "seals", "users"})
# Modules where every device writes only the records it created itself.
OWN_ONLY = frozenset({"device_status"})
_OPS: tuple[Operation, ...] = get_args(Operation)


@functools.cache  # a pure function of a few small values, asked for every write merged
def allowed(role: str, module: str, op: Operation, *, own: bool) -> bool:
    """Whether a device of ``role`` may do ``op`` on a record of ``module``.

    ``own`` says whether the record was created by this same device; creating
    is always "own".
    """
    if module in MAIN_ONLY and op != "read":
        return role == "main"
    if module in OWN_ONLY and op != "read":
        return own
    if role != "travel":
        return True
    rule = TRAVEL_MATRIX[module][_OPS.index(op)]
    return rule is Rule.YES or (rule is Rule.OWN and own)


@functools.cache
def may_write_record(role: str, module: str, *, own: bool) -> bool:
    """Whether the device may change the record in any way at all."""
    ops: tuple[Operation, ...] = ("edit", "delete", "create") if own else ("edit", "delete")
    return any(allowed(role, module, op, own=own) for op in ops)


def check(role: str, module: str, op: Operation, *, own: bool) -> None:
    """Raise :class:`PermissionDeniedError` unless :func:`allowed`."""
    if allowed(role, module, op, own=own):
        return
    if module in MAIN_ONLY:
        raise PermissionDeniedError(f"only the main device may {op} {module} records")
    if module in OWN_ONLY:
        raise PermissionDeniedError(f"a device may only {op} its own {module} records")
    if TRAVEL_MATRIX[module][_OPS.index(op)] is Rule.OWN:
        raise PermissionDeniedError(
            f"a {role} device may only {op} {module} records it created itself"
        )
    raise PermissionDeniedError(f"a {role} device may not {op} {module} records")
