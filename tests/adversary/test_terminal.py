"""Names and values reach a terminal escaped: a record written on another device
cannot move the cursor, clear the screen, retitle the window or reverse text."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.peer.cli.render import json_safe, terminal_safe

from daemons import cli

NASTY = "Evil\x1b[2J\x1b]0;pwned\x07Corp\u202etxt.exe\x9b31m\r\nnext\u2028line"


def assert_harmless(text: str) -> None:
    for line in text.split("\n"):
        bad = [ch for ch in line if not ch.isprintable()]
        assert not bad, (line, bad)


def test_escaping_keeps_what_is_printable() -> None:
    assert terminal_safe("Ålesund AS, 12,50 kr") == "Ålesund AS, 12,50 kr"
    assert terminal_safe("a\x1bb") == "a\\x1bb"
    assert_harmless(terminal_safe(NASTY))
    assert orjson.loads(json_safe(orjson.dumps({"n": NASTY}).decode())) == {"n": NASTY}
    assert_harmless(json_safe(orjson.dumps({"n": NASTY}).decode()))


@pytest.fixture
def hq(tmp_path: Path) -> Path:
    folder = tmp_path / "hq"
    cli("init", folder, "--device", "hq", "--role", "main", "--company", "Acme", "--port", "0")
    return folder


def run(*args: str | Path) -> str:
    done = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    return done.stdout + done.stderr


def test_records_print_escaped(hq: Path) -> None:
    contact = cli("put", hq, "contacts", f"name={NASTY}", f"phone={NASTY}")
    for args in (
        ("list", hq, "contacts"),
        ("get", hq, "contacts", contact),
        ("get", hq, "contacts", contact, "--json"),
        ("list", hq, "contacts", "--json"),
        ("conflicts", hq),
        ("put", hq, "contacts", f"nope{NASTY}=1"),  # an error naming what was typed
    ):
        out = run(*args)
        assert_harmless(out)
    listed = orjson.loads(run("list", hq, "contacts", "--json"))
    assert listed[0]["name"] == NASTY  # escaped for the terminal, not changed


def test_the_company_profile_prints_escaped(hq: Path) -> None:
    cli("company", hq, "--address", NASTY)
    assert_harmless(run("company", hq))
    assert_harmless(run("status", hq))
