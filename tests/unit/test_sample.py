"""roamsync.peer.org.sample: the sample company database is complete, consistent and repeatable."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from roamsync.peer import Peer
from roamsync.peer.org.sample import FILLED, SAMPLE_COMPANY, fill_sample
from roamsync.schema import MODULES, FieldType, UsageError, validate_fields
from roamsync.schema.modules import SYSTEM_MODULES

# Modules that describe the installation itself, not the business, so the sample leaves them be.
NOT_SAMPLED = SYSTEM_MODULES


@pytest.fixture
async def main_peer(tmp_path: Path) -> AsyncIterator[Peer]:
    async with await Peer.open(tmp_path / "s", device="hq", role="main") as peer:
        yield peer


@pytest.fixture
async def small(main_peer: Peer) -> tuple[Peer, dict[str, int]]:
    """A main peer with the small sample, and the counts fill_sample returned."""
    return main_peer, await fill_sample(main_peer)


def references(module: str) -> list[tuple[str, str]]:
    """(field, target module) for each reference field of ``module``."""
    fields = MODULES[module].fields.values()
    return [(f.name, str(f.target)) for f in fields if f.type is FieldType.REFERENCE]


def snapshot(peer: Peer) -> dict[str, list[str]]:
    """Every record as text, ids left out and references shown as the record they point to,
    so two replicas filled alike compare equal although their record ids differ."""
    label: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for module in FILLED:  # referenced modules come first in FILLED
        refs = dict(references(module))
        for record in peer.list(module):
            shown = {k: label.get(v, v) if k in refs else v for k, v in record.items()}
            label[record["id"]] = repr({k: v for k, v in shown.items() if k != "id"})
        out[module] = sorted(label[r["id"]] for r in peer.list(module))
    return out


async def test_small_fills_every_business_module(small: tuple[Peer, dict[str, int]]) -> None:
    peer, counts = small
    assert set(counts) == set(FILLED)
    assert set(MODULES) - set(FILLED) <= NOT_SAMPLED  # a new business module needs sample data
    for module, n in counts.items():
        assert n > 0, module
        assert peer.count(module) == n, module
    assert counts["contacts"] == 20
    assert 150 <= sum(counts.values()) <= 300


async def test_same_seed_same_data(tmp_path: Path) -> None:
    async with (
        await Peer.open(tmp_path / "a", device="hq", role="main") as a,
        await Peer.open(tmp_path / "b", device="hq", role="main") as b,
    ):
        assert await fill_sample(a, seed=3) == await fill_sample(b, seed=3)
        assert sorted(c["name"] for c in a.list("contacts")) == sorted(
            c["name"] for c in b.list("contacts")
        )
        assert snapshot(a) == snapshot(b)


async def test_other_seed_other_data(tmp_path: Path) -> None:
    async with (
        await Peer.open(tmp_path / "a", device="hq", role="main") as a,
        await Peer.open(tmp_path / "b", device="hq", role="main") as b,
    ):
        await fill_sample(a, seed=1)
        await fill_sample(b, seed=2)
        assert {c["name"] for c in a.list("contacts")} != {c["name"] for c in b.list("contacts")}


async def test_references_point_to_live_records_of_the_right_module(
    small: tuple[Peer, dict[str, int]],
) -> None:
    peer, _ = small
    checked = 0
    for module in FILLED:
        for record in peer.list(module):
            for field, target in references(module):
                if record[field] is not None:
                    assert peer.get(target, record[field])["id"] == record[field]
                    checked += 1
                else:
                    assert not MODULES[module].fields[field].required
    assert checked > 100


async def test_invoices_match_their_orders(small: tuple[Peer, dict[str, int]]) -> None:
    peer, _ = small
    for invoice in peer.list("invoices"):
        order = peer.get("orders", invoice["order"])
        assert order["status"] == "invoiced"
        assert (invoice["contact"], invoice["amount"]) == (order["contact"], order["total"])
        assert invoice["due"] > order["order_date"]


async def test_order_and_quote_totals_add_up_their_lines(
    small: tuple[Peer, dict[str, int]],
) -> None:
    """Each note line ends "= <amount>"; the record's total is their sum."""
    peer, _ = small
    for module in ("quotes", "orders"):
        for record in peer.list(module):
            amounts = re.findall(r"= (\d+\.\d\d)$", record["notes"], re.MULTILINE)
            assert amounts, record["notes"]
            assert sum(map(Decimal, amounts)) == record["total"]


@pytest.mark.parametrize(("module", "date"), [("orders", "order_date"), ("quotes", "valid_until")])
async def test_main_gives_final_numbers_in_date_order(
    small: tuple[Peer, dict[str, int]], module: str, date: str
) -> None:
    peer, counts = small
    records = sorted(peer.list(module), key=lambda r: int(r["number"]))
    assert [r["number"] for r in records] == [str(n) for n in range(1, counts[module] + 1)]
    assert all(r["provisional_number"] is None for r in records)
    dates = [r[date] for r in records]
    assert dates == sorted(dates)


async def test_office_peer_gets_provisional_numbers(tmp_path: Path) -> None:
    async with await Peer.open(tmp_path / "o", device="office-1", role="office") as peer:
        await fill_sample(peer)
        assert all(o["number"].startswith("P-office-1-") for o in peer.list("orders"))


async def test_contact_names_are_unique_and_look_real(small: tuple[Peer, dict[str, int]]) -> None:
    peer, _ = small
    contacts = peer.list("contacts")
    assert len({c["name"] for c in contacts}) == len(contacts)
    for c in contacts:
        assert c["kind"] in ("company", "person")
        assert re.fullmatch(r"[\w.-]+@[\w-]+(\.[a-z]+)+", c["email"]), c["email"]
        assert re.fullmatch(r"\+4[567]( \d+)+", c["phone"]), c["phone"]
        assert (c["org_number"] is not None) == (c["kind"] == "company")
        if c["kind"] == "company":
            assert c["name"].endswith((" AS", " AB", " A/S"))
            assert valid_org_number(c["org_number"]), c["org_number"]


def valid_org_number(number: str) -> bool:
    """Norwegian (mod 11), Swedish (Luhn) or Danish (mod 11) organisation number."""
    digits = [int(d) for d in number if d.isdigit()]

    def mod11(weights: tuple[int, ...]) -> bool:
        return sum(w * d for w, d in zip(weights, digits, strict=True)) % 11 == 0

    if re.fullmatch(r"\d{3} \d{3} \d{3}", number):
        return mod11((3, 2, 7, 6, 5, 4, 3, 2, 1))
    if re.fullmatch(r"\d{6}-\d{4}", number):
        return sum(sum(divmod(d * (2 - i % 2), 10)) for i, d in enumerate(digits)) % 10 == 0
    return re.fullmatch(r"\d{8}", number) is not None and mod11((2, 7, 6, 5, 4, 3, 2, 1))


async def test_medium_is_ten_times_the_contacts(tmp_path: Path) -> None:
    async with await Peer.open(tmp_path / "m", device="hq", role="main") as peer:
        counts = await fill_sample(peer, seed=11, size="medium")
        assert counts["contacts"] == 200
        assert counts["orders"] >= 180
        assert len({c["name"] for c in peer.list("contacts")}) == 200


async def test_refuses_a_replica_with_data(main_peer: Peer) -> None:
    await main_peer.create("contacts", {"name": "Real Customer AS"})
    with pytest.raises(UsageError, match="empty replica"):
        await fill_sample(main_peer)
    assert main_peer.count("contacts") == 1


async def test_refuses_a_travel_device_before_writing(tmp_path: Path) -> None:
    async with await Peer.open(tmp_path / "t", device="laptop-1", role="travel") as peer:
        with pytest.raises(UsageError, match="may not create"):
            await fill_sample(peer)
        assert peer.count("contacts") == 0


async def test_refuses_an_unknown_size(main_peer: Peer) -> None:
    with pytest.raises(UsageError, match="size"):
        await fill_sample(main_peer, size="huge")


def test_sample_company_is_a_valid_contact() -> None:
    fields: dict[str, Any] = dict(SAMPLE_COMPANY)
    assert validate_fields("contacts", fields, creating=True) == fields
    assert valid_org_number(SAMPLE_COMPANY["org_number"])
