"""roamsync.schema: typed fields, modules, validation, errors and the permission matrix."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from roamsync.schema import (
    MODULES,
    ROLES,
    TRAVEL_MATRIX,
    Field,
    FieldType,
    FieldTypeError,
    MissingFieldError,
    PermissionDeniedError,
    ReadOnlyFieldError,
    RoamsyncError,
    SchemaError,
    UnknownFieldError,
    UnknownModuleError,
    allowed,
    check,
    get_module,
    validate_fields,
)
from roamsync.schema.fields import JsonValue, decode_value, encode_value
from roamsync.schema.modules import SYSTEM_MODULES
from roamsync.schema.permissions import Operation

STRING = Field("s", FieldType.STRING)
NUMBER = Field("n", FieldType.NUMBER)
MONEY = Field("m", FieldType.MONEY)
DATE = Field("d", FieldType.DATE)
BOOL = Field("b", FieldType.BOOL)
REFERENCE = Field("r", FieldType.REFERENCE, target="contacts")
NOTE = Field("t", FieldType.NOTE)


def enc(field: Field, value: object) -> JsonValue:
    return encode_value("tests", field, value)


def refused(field: Field, value: object) -> FieldTypeError:
    with pytest.raises(FieldTypeError) as info:
        enc(field, value)
    return info.value


# -- field types -------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "Acme AS", "Ærlig Øl 😀", "x" * 10_000])
def test_string_accepts_any_str(value: str) -> None:
    assert enc(STRING, value) == value


@pytest.mark.parametrize("value", [1, 1.5, True, b"bytes", ["a"], {"a": 1}, Decimal(1)])
def test_string_refuses_non_str(value: object) -> None:
    err = refused(STRING, value)
    assert err.module == "tests"
    assert err.field == "s"
    assert "expects text" in str(err)


@pytest.mark.parametrize("value", [0, -3, 2**62, 1.5, -0.25, 1e300])
def test_number_accepts_finite_int_and_float(value: float) -> None:
    stored = enc(NUMBER, value)
    assert stored == value
    assert type(stored) is type(value)


@pytest.mark.parametrize("value", [True, False])
def test_number_refuses_bool(value: bool) -> None:
    refused(NUMBER, value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_number_refuses_nan_and_infinity(value: float) -> None:
    refused(NUMBER, value)


@pytest.mark.parametrize("value", ["12", Decimal("12"), object(), [1]])
def test_number_refuses_non_numbers(value: object) -> None:
    refused(NUMBER, value)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (Decimal("12.5"), "12.50"),
        (Decimal("12.50"), "12.50"),
        (Decimal("12.500"), "12.50"),
        (Decimal("0.01"), "0.01"),
        (Decimal("-3.1"), "-3.10"),
        (12, "12.00"),
        (0, "0.00"),
        (-7, "-7.00"),
        ("12.5", "12.50"),
        ("1234567.89", "1234567.89"),
        ("12,50", "12.50"),  # as people write it here
        (" 7 ", "7.00"),
    ],
)
def test_money_canonical_form(value: object, stored: str) -> None:
    assert enc(MONEY, value) == stored


@pytest.mark.parametrize("value", [12.5, 0.1, 1.0, True, False, b"12", [12]])
def test_money_refuses_floats_bools_and_others(value: object) -> None:
    refused(MONEY, value)


@pytest.mark.parametrize("value", [Decimal("0.001"), Decimal("12.505"), "12.345", "0.1234"])
def test_money_refuses_more_than_two_decimals(value: object) -> None:
    refused(MONEY, value)


@pytest.mark.parametrize(
    "value", ["", "abc", "1E+1", "1 000", "NaN", "Infinity", "-inf", Decimal("NaN")]
)
def test_money_refuses_non_amounts(value: object) -> None:
    refused(MONEY, value)


@pytest.mark.parametrize("value", [Decimal("-0"), "-0.00"])
def test_money_negative_zero_is_canonical(value: object) -> None:
    assert enc(MONEY, value) == enc(MONEY, 0) == "0.00"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (dt.date(2024, 2, 29), "2024-02-29"),
        ("2024-02-29", "2024-02-29"),
        ("29.02.2024", "2024-02-29"),  # dd.mm.yyyy, as people write it here
        ("1.2.2024", "2024-02-01"),
        (dt.date(1, 1, 1), "0001-01-01"),
    ],
)
def test_date_accepts_a_date_iso_or_dotted(value: object, stored: str) -> None:
    assert enc(DATE, value) == stored


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 2, 29, 10, 30),
        dt.datetime(2024, 2, 29),
        "2023-02-29",
        "2024-13-01",
        "29.02.2023",
        "20240229",
        "2024-02-29T10:30:00",
        "",
        20240229,
    ],
)
def test_date_refuses_datetimes_and_bad_strings(value: object) -> None:
    refused(DATE, value)


@pytest.mark.parametrize("value", [True, False])
def test_bool_accepts_bool(value: bool) -> None:
    assert enc(BOOL, value) is value


@pytest.mark.parametrize("value", [0, 1, "true", "", 1.0])
def test_bool_refuses_non_bool(value: object) -> None:
    refused(BOOL, value)


def test_reference_accepts_non_empty_str() -> None:
    assert enc(REFERENCE, "rec-123") == "rec-123"


@pytest.mark.parametrize("value", ["", 5, b"rec", ["rec"]])
def test_reference_refuses_empty_and_non_str(value: object) -> None:
    refused(REFERENCE, value)


def test_note_accepts_str_and_refuses_others() -> None:
    assert enc(NOTE, "line 1\nline 2 é😀") == "line 1\nline 2 é😀"
    refused(NOTE, 5)
    refused(NOTE, b"note")


@pytest.mark.parametrize("field", [STRING, NUMBER, MONEY, DATE, BOOL, REFERENCE, NOTE])
def test_none_clears_every_type(field: Field) -> None:
    assert enc(field, None) is None
    assert decode_value(field, None) is None


def test_field_type_error_chains_the_cause() -> None:
    err = refused(MONEY, "abc")
    assert err.__cause__ is not None


# -- decode_value --------------------------------------------------------------


@pytest.mark.parametrize("value", [Decimal("12.50"), Decimal("-0.01"), Decimal("1000000.00"), 5])
def test_money_round_trip(value: object) -> None:
    stored = enc(MONEY, value)
    decoded = decode_value(MONEY, stored)
    assert isinstance(decoded, Decimal)
    assert decoded == Decimal(str(value))
    assert enc(MONEY, decoded) == stored


@pytest.mark.parametrize("value", [dt.date(2024, 2, 29), dt.date(1999, 12, 31)])
def test_date_round_trip(value: dt.date) -> None:
    decoded = decode_value(DATE, enc(DATE, value))
    assert type(decoded) is dt.date
    assert decoded == value


@pytest.mark.parametrize(
    ("field", "value"),
    [(STRING, "x"), (NUMBER, 3), (NUMBER, 2.5), (BOOL, False), (REFERENCE, "r"), (NOTE, "n")],
)
def test_other_types_decode_to_themselves(field: Field, value: object) -> None:
    assert decode_value(field, enc(field, value)) == value


# -- modules -------------------------------------------------------------------

PRODUCT_MODULES = {
    "contacts",
    "contact_persons",
    "documents",
    "activities",
    "products",
    "stock",
    "quotes",
    "quote_lines",
    "orders",
    "order_lines",
    "invoices",
    "projects",
    "time_registrations",
}


def test_every_product_module_exists() -> None:
    assert set(MODULES) == PRODUCT_MODULES | SYSTEM_MODULES
    for name in PRODUCT_MODULES:
        assert get_module(name).name == name


@pytest.mark.parametrize("role", ["office", "travel"])
def test_only_main_writes_the_device_registry(role: str) -> None:
    assert allowed("main", "devices", "create", own=True)
    assert allowed(role, "devices", "read", own=False)
    for op in ("edit", "create", "delete"):
        assert not allowed(role, "devices", op, own=True)
    with pytest.raises(PermissionDeniedError, match="only the main device"):
        check(role, "devices", "create", own=True)


def test_permission_matrix_covers_every_module() -> None:
    assert set(TRAVEL_MATRIX) == set(MODULES)


@pytest.mark.parametrize("name", sorted(PRODUCT_MODULES))
def test_only_quotes_and_orders_are_numbered(name: str) -> None:
    module = get_module(name)
    numbered = name in {"quotes", "orders"}
    assert module.numbered is numbered
    for system in ("number", "provisional_number"):
        if numbered:
            assert module.fields[system].system
        else:
            assert system not in module.fields


@pytest.mark.parametrize("name", sorted(PRODUCT_MODULES))
def test_references_point_at_existing_modules(name: str) -> None:
    for field in get_module(name).fields.values():
        if field.type is FieldType.REFERENCE:
            assert field.target in MODULES


def test_module_field_lookup() -> None:
    contacts = get_module("contacts")
    assert contacts.field("name").required
    with pytest.raises(UnknownFieldError):
        contacts.field("nope")


# -- validate_fields -----------------------------------------------------------


def test_validate_returns_stored_form() -> None:
    out = validate_fields(
        "products", {"name": "Widget", "price": Decimal("9.9"), "sku": None}, creating=True
    )
    assert out == {"name": "Widget", "price": "9.90", "sku": None}
    out = validate_fields(
        "time_registrations",
        {"project": "p-1", "date": dt.date(2024, 5, 1), "hours": 7.5},
        creating=True,
    )
    assert out == {"project": "p-1", "date": "2024-05-01", "hours": 7.5}


@pytest.mark.parametrize("module", ["nope", "", "Contacts", None, ["contacts"]])
def test_unknown_module(module: object) -> None:
    with pytest.raises(UnknownModuleError) as info:
        validate_fields(module, {"name": "x"}, creating=True)  # type: ignore[arg-type]
    assert info.value.module == str(module)


def test_unknown_field() -> None:
    with pytest.raises(UnknownFieldError) as info:
        validate_fields("contacts", {"name": "Acme", "fax": "123"}, creating=True)
    assert (info.value.module, info.value.field) == ("contacts", "fax")
    assert "fax" in str(info.value)


def test_wrong_type() -> None:
    with pytest.raises(FieldTypeError) as info:
        validate_fields("contacts", {"customer": "yes"}, creating=False)
    assert (info.value.module, info.value.field) == ("contacts", "customer")


@pytest.mark.parametrize(
    ("module", "fields", "missing"),
    [
        ("contacts", {"phone": "1"}, "name"),
        ("contact_persons", {"name": "Kari"}, "contact"),
        ("stock", {"product": "p"}, "quantity"),
        ("invoices", {"contact": "c"}, "amount"),
        ("time_registrations", {"project": "p", "hours": 1}, "date"),
        ("quotes", {}, "contact"),
    ],
)
def test_missing_required_on_create(module: str, fields: dict[str, object], missing: str) -> None:
    with pytest.raises(MissingFieldError) as info:
        validate_fields(module, fields, creating=True)
    assert info.value.field == missing
    # An update does not need every required field.
    assert validate_fields(module, fields, creating=False) == fields


@pytest.mark.parametrize("creating", [True, False])
def test_clearing_a_required_field(creating: bool) -> None:
    with pytest.raises(MissingFieldError) as info:
        validate_fields("contacts", {"name": None}, creating=creating)
    assert info.value.field == "name"


def test_clearing_an_optional_field() -> None:
    assert validate_fields("contacts", {"phone": None}, creating=False) == {"phone": None}


@pytest.mark.parametrize("module", ["quotes", "orders"])
@pytest.mark.parametrize("field", ["number", "provisional_number"])
@pytest.mark.parametrize("value", ["Q-1", None])
def test_system_fields_are_read_only(module: str, field: str, value: object) -> None:
    with pytest.raises(ReadOnlyFieldError) as info:
        validate_fields(module, {"contact": "c", field: value}, creating=False)
    assert (info.value.module, info.value.field) == (module, field)


@pytest.mark.parametrize(
    ("module", "fields"),
    [
        ("nope", {}),
        ("contacts", {"fax": "1"}),
        ("contacts", {"name": 5}),
        ("contacts", {}),
        ("orders", {"contact": "c", "number": "1"}),
    ],
)
def test_schema_errors_share_the_tree(module: str, fields: dict[str, object]) -> None:
    with pytest.raises(SchemaError) as info:
        validate_fields(module, fields, creating=True)
    assert isinstance(info.value, RoamsyncError)


@pytest.mark.parametrize(
    "cls",
    [UnknownModuleError, UnknownFieldError, FieldTypeError, MissingFieldError, ReadOnlyFieldError],
)
def test_error_classes_derive_from_schema_error(cls: type[Exception]) -> None:
    assert issubclass(cls, SchemaError)
    assert issubclass(cls, RoamsyncError)
    assert issubclass(PermissionDeniedError, RoamsyncError)


# -- permissions ---------------------------------------------------------------

Y, N, OWN = "yes", "no", "own"
OPS: tuple[Operation, ...] = ("read", "edit", "create", "delete")
EXPECTED_TRAVEL = {
    "contacts": (Y, Y, Y, N),
    "contact_persons": (Y, Y, Y, N),
    "documents": (Y, Y, Y, Y),
    "activities": (Y, Y, Y, Y),
    "products": (Y, N, N, N),
    "stock": (Y, N, N, N),
    "invoices": (Y, N, N, N),
    "projects": (Y, N, N, N),
    "time_registrations": (Y, N, N, N),
    "quotes": (Y, OWN, Y, OWN),
    "orders": (Y, OWN, Y, OWN),
    "quote_lines": (Y, OWN, Y, OWN),  # and only on its own quotes (test_lines.py)
    "order_lines": (Y, OWN, Y, OWN),
}


def _expect(rule: str, own: bool) -> bool:
    return rule == Y or (rule == OWN and own)


TRAVEL_CASES = [
    pytest.param(module, op, own, _expect(rules[i], own), id=f"{module}-{op}-own={own}")
    for module, rules in EXPECTED_TRAVEL.items()
    for i, op in enumerate(OPS)
    for own in (False, True)
]


def test_matrix_table_covers_every_module() -> None:
    assert set(EXPECTED_TRAVEL) == PRODUCT_MODULES


@pytest.mark.parametrize(("module", "op", "own", "expected"), TRAVEL_CASES)
def test_travel_matrix(module: str, op: Operation, own: bool, expected: bool) -> None:
    assert allowed("travel", module, op, own=own) is expected
    if expected:
        check("travel", module, op, own=own)
    else:
        with pytest.raises(PermissionDeniedError, match=module):
            check("travel", module, op, own=own)


@pytest.mark.parametrize("role", ["main", "office"])
@pytest.mark.parametrize("module", sorted(PRODUCT_MODULES))
def test_main_and_office_may_do_everything(role: str, module: str) -> None:
    for op in OPS:
        for own in (False, True):
            assert allowed(role, module, op, own=own) is True
            check(role, module, op, own=own)


def test_roles() -> None:
    assert set(ROLES) == {"main", "office", "travel"}


def test_check_messages() -> None:
    with pytest.raises(PermissionDeniedError, match=r"travel.*orders.*created itself"):
        check("travel", "orders", "edit", own=False)
    with pytest.raises(PermissionDeniedError, match="may not delete contacts"):
        check("travel", "contacts", "delete", own=True)
    with pytest.raises(RoamsyncError):
        check("travel", "invoices", "create", own=True)
