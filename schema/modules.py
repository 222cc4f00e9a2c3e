"""The modules of the company database and their fields.

>>> validate_fields("contacts", {"name": "Acme AS", "phone": "+47 555"}, creating=True)
{'name': 'Acme AS', 'phone': '+47 555'}
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from roamsync.schema.errors import (
    MissingFieldError,
    ReadOnlyFieldError,
    SchemaError,
    UnknownFieldError,
    UnknownModuleError,
)
from roamsync.schema.fields import DECODED, Field, FieldType, JsonValue, encode_value

S, NUM, MONEY, DATE, BOOL, REF, NOTE = (
    FieldType.STRING,
    FieldType.NUMBER,
    FieldType.MONEY,
    FieldType.DATE,
    FieldType.BOOL,
    FieldType.REFERENCE,
    FieldType.NOTE,
)


@dataclass(frozen=True)
class Module:
    name: str
    fields: Mapping[str, Field]
    numbered: bool = False  # quotes and orders carry a number from main's sequence

    @functools.cached_property
    def notes(self) -> tuple[str, ...]:
        """The names of the module's note (rich text) fields."""
        return tuple(name for name, f in self.fields.items() if f.type is FieldType.NOTE)

    @functools.cached_property
    def system_fields(self) -> frozenset[str]:
        """The fields only roamsync sets (the order number and the provisional one)."""
        return frozenset(f.name for f in self.fields.values() if f.system)

    @functools.cached_property
    def decoded(self) -> dict[str, Field]:
        """The fields whose stored values are decoded (money, date): the only stored
        values of this module that can fail to decode."""
        return {name: f for name, f in self.fields.items() if f.type in DECODED}

    def field(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise UnknownFieldError(self.name, name) from None


def _lines(name: str, parent: str, parent_module: str) -> Module:
    """A quote's or order's lines: one record each; the parent's total is their sum."""
    return _module(
        name,
        _ref(parent, parent_module, required=True),
        _ref("product", "products"),
        Field("text", S),
        Field("quantity", NUM, required=True),
        Field("unit_price", MONEY, required=True),
        Field("discount", NUM),  # percent
    )


def _module(name: str, *fields: Field, numbered: bool = False) -> Module:
    all_fields = list(fields)
    if numbered:
        all_fields += [
            Field("number", S, system=True),
            Field("provisional_number", S, system=True),
        ]
    return Module(name, {f.name: f for f in all_fields}, numbered)


def _ref(name: str, target: str, required: bool = False) -> Field:
    return Field(name, REF, required=required, target=target)


MODULES: dict[str, Module] = {
    m.name: m
    for m in (
        _module(
            "contacts",
            Field("name", S, required=True),
            Field("kind", S),  # "company" or "person"
            Field("email", S),
            Field("phone", S),
            Field("address", S),
            Field("org_number", S),
            Field("customer", BOOL),
            Field("notes", NOTE),
        ),
        _module(
            "contact_persons",
            _ref("contact", "contacts", required=True),
            Field("name", S, required=True),
            Field("title", S),
            Field("email", S),
            Field("phone", S),
            Field("notes", NOTE),
        ),
        _module(
            "documents",
            Field("title", S, required=True),
            _ref("contact", "contacts"),
            Field("kind", S),
            Field("date", DATE),
            Field("notes", NOTE),
        ),
        _module(
            "activities",
            Field("subject", S, required=True),
            _ref("contact", "contacts"),
            Field("due", DATE),
            Field("done", BOOL),
            Field("notes", NOTE),
        ),
        _module(
            "products",
            Field("name", S, required=True),
            Field("sku", S),
            Field("price", MONEY),
            Field("unit", S),
            Field("notes", NOTE),
        ),
        _module(
            "stock",
            _ref("product", "products", required=True),
            Field("quantity", NUM, required=True),
            Field("location", S),
        ),
        _module(
            "quotes",
            _ref("contact", "contacts", required=True),
            Field("title", S),
            Field("total", MONEY),
            Field("valid_until", DATE),
            Field("status", S),
            Field("notes", NOTE),
            numbered=True,
        ),
        _module(
            "orders",
            _ref("contact", "contacts", required=True),
            Field("title", S),
            Field("total", MONEY),
            Field("order_date", DATE),
            Field("status", S),
            Field("notes", NOTE),
            numbered=True,
        ),
        _lines("quote_lines", "quote", "quotes"),  # totals: replica.lines
        _lines("order_lines", "order", "orders"),
        _module(
            "invoices",
            _ref("order", "orders"),
            _ref("contact", "contacts", required=True),
            Field("amount", MONEY, required=True),
            Field("due", DATE),
            Field("paid", BOOL),
        ),
        _module(
            "projects",
            Field("name", S, required=True),
            _ref("contact", "contacts"),
            Field("start", DATE),
            Field("end", DATE),
            Field("notes", NOTE),
        ),
        _module(  # the device registry: written by main, replicated to every device
            "devices",
            Field("name", S, required=True),
            Field("role", S, required=True),
            Field("fingerprint", S, required=True),  # SHA-256 of the certificate, hex
            Field("cert", S, required=True),  # PEM
            Field("status", S),  # "active" or "revoked"
        ),
        _module(  # each device's own status record: working offline, and since when
            "device_status",
            Field("offline", BOOL, required=True),
            Field("since", S),  # ISO time of the check-out
        ),
        _module(  # main's seals: digests of signed slots, under main's signature
            "seals",
            Field("hashes", S, required=True),  # base64 of 16-byte BLAKE2b digests
        ),
        _module(  # web users (peer/org/users.py): written by main, replicated to every peer
            "users",
            Field("email", S, required=True),  # the login name; never changes
            Field("name", S),
            Field("role", S, required=True),  # admin | office | read-only
            Field("status", S, required=True),  # invited | active | locked | disabled
            Field("password", S),  # Argon2id hash, set when the user accepts
        ),
        _module(  # the company profile (one record, id "company"), written by main
            "company",
            Field("name", S, required=True),
            Field("address", S),
            Field("phone", S),
            Field("email", S),
            Field("org_number", S),
        ),
        _module(
            "time_registrations",
            _ref("project", "projects", required=True),
            Field("date", DATE, required=True),
            Field("hours", NUM, required=True),
            Field("description", S),
        ),
    )
}


# Modules roamsync writes itself (the device registry, each device's status, the company
# profile, main's seals): the generic record operations leave them alone.
# Line modules: (the field naming the parent, the parent's module).
LINES = {"quote_lines": ("quote", "quotes"), "order_lines": ("order", "orders")}

SYSTEM_MODULES = frozenset({"devices", "device_status", "company", "seals", "users"})


def get_module(name: str) -> Module:
    try:
        return MODULES[name]
    except (KeyError, TypeError):
        raise UnknownModuleError(str(name)) from None


def validate_fields(
    module: str, fields: Mapping[str, object], *, creating: bool
) -> dict[str, JsonValue]:
    """Check user input for ``module`` and return it in stored form.

    Raises a :class:`~roamsync.schema.errors.SchemaError` subclass on the first
    problem, so the caller writes nothing. ``None`` clears an optional field.
    """
    mod = get_module(module)
    if not isinstance(fields, Mapping):
        raise SchemaError(f"fields must be a mapping of field name to value, not {fields!r}")
    out: dict[str, JsonValue] = {}
    for name, value in fields.items():
        field = mod.field(name)
        if field.system:
            raise ReadOnlyFieldError(module, name)
        stored = encode_value(module, field, value)
        if stored is None and field.required:
            raise MissingFieldError(module, name)
        out[name] = stored
    if creating:
        for field in mod.fields.values():
            if field.required and field.name not in out:
                raise MissingFieldError(module, field.name)
    return out
