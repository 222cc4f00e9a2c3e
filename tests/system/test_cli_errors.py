"""A user's mistake or a daemon's error answer is one line and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.schema import (
    FieldTypeError,
    InvalidArgumentError,
    RecordNotFoundError,
    RoamsyncError,
    UnknownFieldError,
    UnknownModuleError,
    UsageError,
)
from roamsync.schema.errors import exit_code

from daemons import Daemons


def mistakes(hq: Path) -> list[tuple[list[str], type[RoamsyncError]]]:
    return [
        (["put", str(hq), "contacts", "colour=red"], UnknownFieldError),
        (["put", str(hq), "stock", "product=x", "quantity=abc"], FieldTypeError),
        (["put", str(hq), "nomodule", "a=b"], UnknownModuleError),
        (["get", str(hq), "contacts", "nope"], RecordNotFoundError),
        (["list", str(hq), "nomodule"], UnknownModuleError),
        (["offline", str(hq), "--timeout", "nan"], InvalidArgumentError),
        (["offline", str(hq), "--timeout", "1e308"], InvalidArgumentError),
        (["invite", str(hq), "--expires", "nan"], InvalidArgumentError),
        (["invite", str(hq), "--expires", "1e300"], InvalidArgumentError),
        (["resolve", str(hq), "nope", "name", "--pick", "0"], RecordNotFoundError),
        (["disconnect", str(hq), "hq"], UsageError),  # main cannot disconnect itself
    ]


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


def _check(args: list[str], error: type[RoamsyncError]) -> None:
    """In this process (a traceback would raise here): one line on stderr, the table's code."""
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == exit_code(error.__new__(error)), (args, done.stderr)
    assert done.stderr.startswith(f"Error: {error.__name__}: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_mistakes_without_the_daemon(daemons: Daemons) -> None:
    hq = daemons.init("hq", "main")
    for args, error in mistakes(hq):
        _check(args, error)


def test_mistakes_through_the_daemon(daemons: Daemons) -> None:
    hq = daemons.init("hq", "main")
    daemons.serve("hq", "--no-discovery")
    for args, error in mistakes(hq):
        _check(args, error)
