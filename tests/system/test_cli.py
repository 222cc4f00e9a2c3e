"""The command line without a daemon: set-up, criteria, records, sample company, progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.peer.cli.serve import ProgressBars

PROFILE = ["--address", "Storgata 1", "--phone", "+47 22 00 00 01", "--email", "a@b.no"]


def roamsync(*args: object, ok: bool = True) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output if not ok else result.stdout  # errors go to standard error


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help, name
        assert "Usage" in roamsync(name, "--help")


def test_invite_needs_the_company_profile(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    roamsync("init", hq, "--device", "hq", "--role", "main", "--company", "Acme", *PROFILE)
    out = roamsync("invite", hq, ok=False)
    assert "missing: organisation number" in out
    assert "missing: phone" not in out
    roamsync("company", hq, "--org-number", "912 345 678")
    code = roamsync("invite", hq, "--role", "travel").strip()
    assert len(code.split(".")) == 3
    assert "org_number: 912 345 678" in roamsync("company", hq)


def test_records_through_the_cli(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    roamsync("init", hq, "--device", "hq", "--role", "main", "--company", "Acme")
    acme = roamsync("put", hq, "contacts", "name=Acme AS", "customer=yes").strip()
    roamsync("put", hq, "contacts", "--id", acme, "phone=+47 22")
    order = roamsync("put", hq, "orders", f"contact={acme}", "total=99.5").strip()
    got = json.loads(roamsync("get", hq, "orders", order, "--json"))
    assert (got["number"], got["total"]) == ("1", "99.50")
    listed = json.loads(roamsync("list", hq, "contacts", "--json"))
    assert [(c["name"], c["phone"], c["customer"]) for c in listed] == [("Acme AS", "+47 22", True)]
    assert "UnknownFieldError" in roamsync("put", hq, "contacts", "colour=red", ok=False)
    assert "RecordNotFoundError" in roamsync("get", hq, "contacts", "nope", ok=False)
    assert json.loads(roamsync("conflicts", hq, "--json")) == []


def test_records_by_number_and_name_with_references_named(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    roamsync("init", hq, "--device", "hq", "--role", "main", "--company", "Acme")
    zeta = roamsync("put", hq, "contacts", "name=Zeta AS").strip()
    acme = roamsync("put", hq, "contacts", "name=Acme AS").strip()
    result = CliRunner().invoke(main, ["put", str(hq), "orders", f"contact={zeta}"])
    assert result.stdout.strip() != ""  # the id alone on standard output
    assert "number 1" in result.stderr  # the number for a person
    roamsync("put", hq, "orders", "contact=Acme AS")  # a reference by exact name
    assert json.loads(roamsync("get", hq, "orders", "2", "--json"))["contact"] == acme
    assert json.loads(roamsync("get", hq, "contacts", "zeta as", "--json"))["id"] == zeta
    shown = roamsync("get", hq, "orders", "1")
    assert f"contact: Zeta AS ({zeta})" in shown  # the name beside the id
    names = [c["name"] for c in json.loads(roamsync("list", hq, "contacts", "--json"))]
    assert names == ["Acme AS", "Zeta AS"]  # by name
    assert [o["number"] for o in json.loads(roamsync("list", hq, "orders", "--json"))] == [
        "1",
        "2",
    ]
    roamsync("delete", hq, "orders", "2")
    assert "RecordNotFoundError" in roamsync("get", hq, "orders", "2", ok=False)
    roamsync("undelete", hq, "orders", "2")  # by its number, deleted
    assert json.loads(roamsync("get", hq, "orders", "2", "--json"))["contact"] == acme
    assert "RED: the daemon is not running" in roamsync("status", hq)


def test_a_sample_company_never_syncs(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    roamsync("init", demo, "--device", "demo", "--role", "main", "--company", "Demo", "--sample")
    assert len(json.loads(roamsync("list", demo, "contacts", "--json"))) >= 10
    assert "never syncs" in roamsync("invite", demo, ok=False)
    assert "never syncs" in roamsync("serve", demo, ok=False)


def test_progress_bar_shows_done_total_rate(capsys: pytest.CaptureFixture[str]) -> None:
    bars = ProgressBars()
    bars.update("hq", 0, 50)  # small: no bar
    assert bars.bars == {}
    bars.update("hq", 0, 1000)
    bars.update("hq", 400, 1000)
    bars.update("hq", 1000, 1000)  # done: the bar closes
    assert bars.bars == {}
    err = capsys.readouterr().err
    assert "1000/1000" in err
    assert "records" in err


def test_delete_and_undelete(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    roamsync("init", hq, "--device", "hq", "--role", "main", "--company", "Acme")
    acme = roamsync("put", hq, "contacts", "name=Acme AS").strip()
    assert "deleted" in roamsync("delete", hq, "contacts", acme)
    assert "RecordNotFoundError" in roamsync("get", hq, "contacts", acme, ok=False)
    assert "restored" in roamsync("undelete", hq, "contacts", acme)
    assert json.loads(roamsync("get", hq, "contacts", acme, "--json"))["name"] == "Acme AS"


def test_web_users_on_main(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    roamsync("init", hq, "--device", "hq", "--role", "main", "--company", "Acme")
    out = roamsync("user", "invite", hq, "Kari@Acme.no", "--role", "admin", "--name", "Kari")
    code = out.splitlines()[1]
    assert f"/accept/{code}" in out
    [kari] = json.loads(roamsync("user", "list", hq, "--json"))
    assert (kari["email"], kari["role"], kari["status"], kari["accepted"]) == (
        "kari@acme.no",
        "admin",
        "invited",
        False,
    )
    assert "kari@acme.no is locked" in roamsync("user", "lock", hq, "kari@acme.no")
    assert "not accepted" in roamsync("user", "unlock", hq, "kari@acme.no", ok=False)
    assert "is disabled" in roamsync("user", "disable", hq, "kari@acme.no")
    assert "e-mail address" in roamsync("user", "invite", hq, "kari", "--role", "admin", ok=False)
