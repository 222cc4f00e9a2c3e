"""The one error tree: every class in schema/errors.py, each with its HTTP status and exit code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from roamsync import schema
from roamsync.schema.errors import (
    BOUNDARY,
    CriteriaError,
    InvalidArgumentError,
    RecordNotFoundError,
    RoamsyncError,
    error_classes,
    exit_code,
    from_wire,
    http_status,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("peer", "schema", "transport")


def _exception_classes_outside_the_tree() -> list[str]:
    """Classes in the three packages that look like errors but are not in schema/errors.py."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "schema" / "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ClassDef):
                    continue
                bases = {ast.unparse(b) for b in node.bases}
                if any(b.endswith(("Error", "Exception", "Refused", "Closed")) for b in bases):
                    found.append(f"{path.relative_to(ROOT)}: {node.name}")
    return found


def test_every_error_class_lives_in_schema_errors() -> None:
    assert _exception_classes_outside_the_tree() == []


ERROR_CLASSES: list[type[RoamsyncError]] = sorted(
    error_classes().values(), key=lambda c: c.__name__
)


@pytest.mark.parametrize("cls", ERROR_CLASSES)
def test_every_class_has_a_status_and_an_exit_code(cls: type[RoamsyncError]) -> None:
    assert cls.__module__ == "roamsync.schema.errors"
    exc = cls.__new__(cls)
    assert 400 <= http_status(exc) < 600
    assert exit_code(exc) >= 1
    assert getattr(schema, cls.__name__) is cls  # exported from roamsync.schema


def test_the_table_names_only_classes_of_the_tree() -> None:
    assert set(BOUNDARY) <= set(error_classes().values())
    assert http_status(RecordNotFoundError("contacts", "x")) == 404
    assert exit_code(InvalidArgumentError("within", "expects a number")) == 2


@pytest.mark.parametrize(
    "exc",
    [
        RecordNotFoundError("contacts", "abc"),
        CriteriaError(["phone", "e-mail"]),
        InvalidArgumentError("within", "expects a number"),
        schema.StoreDamagedError(Path("/x/roamsync.sqlite3"), "not a database"),
        RoamsyncError("plain"),
    ],
)
def test_an_error_crosses_the_api_as_itself(exc: RoamsyncError) -> None:
    again = from_wire(exc.to_wire())
    assert type(again) is type(exc)
    assert str(again) == str(exc)
    for name in type(exc).details:
        assert getattr(again, name) == getattr(exc, name)


def test_an_unknown_error_name_from_the_wire_is_a_plain_roamsync_error() -> None:
    exc = from_wire({"error": "NoSuchError", "message": "m", "details": "not a dict"})
    assert type(exc) is RoamsyncError
    assert str(exc) == "m"
