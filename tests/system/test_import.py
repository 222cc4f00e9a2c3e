"""Import and export (issue 13, 6): CSV as people keep it, a report naming line and field,
nothing written if a row is bad unless --skip-bad, and export then import gives the same
records."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from roamsync.peer.cli import main


def cli(*args: object, code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout


def company(tmp_path: Path, name: str = "hq") -> Path:
    folder = tmp_path / name
    cli("init", folder, "--device", name, "--role", "main", "--company", "Acme")
    return folder


def test_a_spreadsheet_is_read_as_people_write_it(tmp_path: Path) -> None:
    hq = company(tmp_path)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("name;email;customer\nAcme AS;post@acme.no;ja\nFjord AS;;nei\n")
    assert "imported 2 of 2" in cli("import", hq, "contacts", contacts)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "contact,total,order_date,status\n"
        'Acme AS,"12,50",31.12.2026,new\n'
        "fjord as,99.90,2026-01-02,\n"
    )
    assert "imported 2 of 2" in cli("import", hq, "orders", orders)
    listed = json.loads(cli("list", hq, "orders", "--json"))
    assert [(o["number"], o["total"], o["order_date"]) for o in listed] == [
        ("1", "12.50", "2026-12-31"),
        ("2", "99.90", "2026-01-02"),
    ]
    acme = json.loads(cli("get", hq, "contacts", "Acme AS", "--json"))
    assert acme["customer"] is True
    assert listed[0]["contact"] == acme["id"]


def test_a_bad_row_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    hq = company(tmp_path)
    cli("put", hq, "contacts", "name=Acme AS")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "contact,total,order_date\n"
        "Acme AS,10.00,2026-01-01\n"
        "Acme AS,ten,2026-01-01\n"  # line 3: money
        "Nobody AS,1.00,2026-01-01\n"  # line 4: no such contact
        "Acme AS,1.00,32.01.2026\n"  # line 5: no such day
    )
    result = CliRunner().invoke(main, ["import", str(hq), "orders", str(orders)])
    assert result.exit_code == 2
    assert "line 3: total: orders.total expects an amount like 12.50" in result.stderr
    assert "line 4: contact:" in result.stderr
    assert "line 5: order_date:" in result.stderr
    assert "nothing was imported" in result.stdout
    assert json.loads(cli("list", hq, "orders", "--json")) == []
    report = json.loads(cli("import", hq, "orders", orders, "--skip-bad", "--json"))
    assert (report["imported"], report["rows"], report["bad_rows"]) == (1, 4, 3)
    assert len(json.loads(cli("list", hq, "orders", "--json"))) == 1


def test_a_bad_id_is_a_bad_row(tmp_path: Path) -> None:
    hq = company(tmp_path)
    rows = tmp_path / "ids.csv"
    rows.write_text("id,name\nok-1,Acme\n" + "x" * 65 + ",Too long\n")
    report = json.loads(cli("import", hq, "contacts", rows, "--json", code=2))
    assert [(b["line"], b["field"]) for b in report["bad"]] == [(3, "id")]
    assert json.loads(cli("list", hq, "contacts", "--json")) == []


def test_an_unknown_column_names_the_field(tmp_path: Path) -> None:
    hq = company(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,colour\nAcme,red\n")
    result = CliRunner().invoke(main, ["import", str(hq), "contacts", str(bad)])
    assert result.exit_code != 0
    assert "colour" in result.stderr


def test_export_then_import_into_an_empty_company_gives_the_same_records(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "sample"
    cli("init", sample, "--device", "s", "--role", "main", "--company", "S", "--sample")
    empty = company(tmp_path, "empty")
    for module in ("contacts", "products", "orders"):  # references after what they name
        exported = tmp_path / f"{module}.csv"
        cli("export", sample, module, "--output", exported)
        report = json.loads(cli("import", empty, module, exported, "--json"))
        assert report["bad_rows"] == 0, report["bad"][:3]
        before = json.loads(cli("list", sample, module, "--json"))
        after = json.loads(cli("list", empty, module, "--json"))
        assert after == before
