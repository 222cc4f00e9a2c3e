"""Input people type (the command line, CSV files): numbers, money, dates and yes/no read
as they are written here, and a clear error naming the format for anything else."""

from __future__ import annotations

import pytest

from roamsync.peer.org.company import check_shapes
from roamsync.schema import FieldTypeError, get_module, parse_input, validate_fields


def typed(module: str, field: str, text: str) -> object:
    """What is stored for ``text`` typed into ``module.field``."""
    value = parse_input(module, get_module(module).field(field), text)
    return validate_fields(module, {field: value}, creating=False)[field]


@pytest.mark.parametrize(
    ("module", "field", "text", "stored"),
    [
        ("time_registrations", "hours", "7", 7),
        ("time_registrations", "hours", "7.5", 7.5),
        ("time_registrations", "hours", "7,5", 7.5),
        ("time_registrations", "hours", " -2 ", -2),
        ("orders", "total", "12.50", "12.50"),
        ("orders", "total", "12,50", "12.50"),
        ("orders", "total", "12", "12.00"),
        ("orders", "total", "-0,5", "-0.50"),
        ("invoices", "due", "2026-12-31", "2026-12-31"),
        ("invoices", "due", "31.12.2026", "2026-12-31"),
        ("invoices", "due", "1.2.2027", "2027-02-01"),
        ("invoices", "paid", "yes", True),
        ("invoices", "paid", "Ja", True),
        ("invoices", "paid", "1", True),
        ("invoices", "paid", "nei", False),
        ("invoices", "paid", "FALSE", False),
        ("invoices", "due", "", None),
    ],
)
def test_what_people_type_is_read(module: str, field: str, text: str, stored: object) -> None:
    assert typed(module, field, text) == stored


@pytest.mark.parametrize(
    ("module", "field", "text", "expected"),
    [
        ("time_registrations", "hours", "abc", "a number like 12 or 2.5"),
        ("time_registrations", "hours", "nan", "a number like 12 or 2.5"),
        ("time_registrations", "hours", "inf", "a number like 12 or 2.5"),
        ("time_registrations", "hours", "1,2,3", "a number like 12 or 2.5"),
        ("orders", "total", "12.505", "an amount like 12.50 or 12,50"),
        ("orders", "total", "twelve", "an amount like 12.50 or 12,50"),
        ("orders", "total", "NaN", "an amount like 12.50 or 12,50"),
        ("invoices", "due", "31/12/2026", "a date like 2026-12-31 or 31.12.2026"),
        ("invoices", "due", "31.13.2026", "a date like 2026-12-31 or 31.12.2026"),
        ("invoices", "due", "20261231", "a date like 2026-12-31 or 31.12.2026"),
        ("invoices", "paid", "maybe", "yes or no"),
        ("invoices", "paid", "ja!", "yes or no"),
    ],
)
def test_anything_else_names_the_format(module: str, field: str, text: str, expected: str) -> None:
    with pytest.raises(FieldTypeError, match=expected) as raised:
        typed(module, field, text)
    assert f"{module}.{field}" in str(raised.value)


@pytest.mark.parametrize(
    ("field", "value", "good"),
    [
        ("email", "post@acme.no", True),
        ("email", "post(at)acme.no", False),
        ("email", "post@acme", False),
        ("phone", "+47 22 00 00 00", True),
        ("phone", "(555) 123-4567", True),
        ("phone", "call me", False),
        ("org_number", "912 345 678", True),
        ("org_number", "NO 912 345 678 MVA", True),
        ("org_number", "912345678", True),
        ("org_number", "ACME", False),
    ],
)
def test_the_company_profile_has_shapes(field: str, value: str, good: bool) -> None:
    if good:
        check_shapes({field: value})
    else:
        with pytest.raises(FieldTypeError, match=f"company.{field} expects"):
            check_shapes({field: value})
