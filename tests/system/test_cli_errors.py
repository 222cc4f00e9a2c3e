"""A user's mistake or a daemon's error answer is one line and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.schema import (
    FieldTypeError,
    InvalidArgumentError,
    PermissionDeniedError,
    RecordNotFoundError,
    RoamsyncError,
    UnknownFieldError,
    UnknownModuleError,
    UsageError,
    ValueTooLargeError,
)
from roamsync.schema.errors import exit_code

from daemons import ROAMSYNC, Daemons


def mistakes(hq: Path) -> list[tuple[list[str], type[RoamsyncError]]]:
    return [
        (["put", str(hq), "contacts", "colour=red"], UnknownFieldError),
        (["put", str(hq), "contacts", "name=" + "x" * 70_000], ValueTooLargeError),
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
        (["put", str(hq), "stock", "product=x", f"quantity={10**30}"], InvalidArgumentError),
        (["put", str(hq), "stock", "product=x", "quantity=nan"], FieldTypeError),
        (["put", str(hq), "contacts", "--id", "", "name=x"], InvalidArgumentError),
        (
            ["put", str(hq), "devices", "name=evil", "role=main", "fingerprint=f", "cert=c"],
            PermissionDeniedError,
        ),  # the registry is written by invite, join, disconnect
        (["delete", str(hq), "company", "company"], PermissionDeniedError),
        (["get", str(hq), "contacts", ""], InvalidArgumentError),
        (["get", str(hq), "contacts", "a/b"], InvalidArgumentError),
        (["get", str(hq), "contacts", "a{b}"], RecordNotFoundError),
        (["get", str(hq), "contacts", "x" * 1000], InvalidArgumentError),
        (["delete", str(hq), "nomodule", "x"], UnknownModuleError),
        (["undelete", str(hq), "contacts", "nope"], RecordNotFoundError),
        (["company", str(hq), "--name", ""], InvalidArgumentError),
        (["resolve", str(hq), "nope", "name", "--pick", str(10**23)], InvalidArgumentError),
        (["invite", str(hq), "--expires", "-1"], InvalidArgumentError),
    ]


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


def _check(args: list[str], error: type[RoamsyncError]) -> str:
    """In this process (a traceback would raise here): one line on stderr, the table's code;
    the line."""
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == exit_code(error.__new__(error)), (args, done.stderr)
    assert done.stderr.startswith(f"Error: {error.__name__}: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def test_a_mistake_reads_the_same_with_and_without_the_daemon(daemons: Daemons) -> None:
    hq = daemons.init("hq", "main")
    alone = [_check(args, error) for args, error in mistakes(hq)]
    daemons.serve("hq", "--no-discovery")
    through = [_check(args, error) for args, error in mistakes(hq)]
    assert through == alone
    assert "not valid UTF-8" not in "".join(alone)


def test_an_argument_that_is_not_text_is_refused_before_any_command(daemons: Daemons) -> None:
    hq = daemons.init("hq", "main")
    done = subprocess.run(
        [*ROAMSYNC, "get", str(hq), "contacts", b"\xff"], capture_output=True, timeout=60
    )
    assert done.returncode == exit_code(InvalidArgumentError("x", "y"))
    assert done.stderr == b"Error: InvalidArgumentError: argument 4: is not valid UTF-8 text\n"
