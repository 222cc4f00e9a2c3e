"""Merging: relaying, idempotent sync, numbering by main, and writes that break the matrix."""

from __future__ import annotations

import pytest

from roamsync.peer import Peer, is_provisional
from roamsync.peer.record import RecordDoc
from roamsync.schema import get_module
from roamsync.transport.memory import sync

from conftest import OpenPeer


def _bypass(peer: Peer, module: str, values: dict[str, object], record_id: str) -> None:
    """Write like a buggy client would: straight into the document, skipping every check."""
    rec = peer.records.doc(record_id)
    assert rec is not None
    peer.records.write(record_id, rec, get_module(module), peer.clock.now(), values)  # type: ignore[arg-type]
    peer.records.commit([(record_id, rec)])


async def test_changes_are_relayed(open_peer: OpenPeer) -> None:
    a, b, c = await open_peer("a"), await open_peer("b"), await open_peer("c")
    acme = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await sync(b, c)  # a and c never meet
    assert c.get("contacts", acme)["name"] == "Acme"


async def test_a_second_sync_moves_nothing(open_peer: OpenPeer) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    for i in range(30):
        await a.create("contacts", {"name": f"c{i}"})
    first = await sync(a, b, batch=7)
    assert first.a_to_b == 30
    again = await sync(a, b)
    assert (again.a_to_b, again.b_to_a, again.records) == (0, 0, 0)
    assert a.list("contacts") == b.list("contacts")


async def test_resume_sends_only_what_changed(open_peer: OpenPeer) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    ids = [await a.create("contacts", {"name": f"c{i}"}) for i in range(20)]
    await sync(a, b)
    await a.update("contacts", ids[3], {"phone": "1"})
    assert [rid for _, rid, _ in a.changes(a.checkpoint("b"))] == [ids[3]]
    report = await sync(a, b)
    assert (report.a_to_b, report.records) == (1, 1)  # nothing goes back: it came from a


async def test_main_numbers_offline_orders_in_creation_order(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    l1, l2 = await open_peer("laptop-1", "travel"), await open_peer("laptop-2", "travel")
    office = await open_peer("office-1", "office")
    acme = await hq.create("contacts", {"name": "Acme"})
    first = await hq.create("orders", {"contact": acme})
    for peer in (l1, l2, office):
        await sync(hq, peer)
    o2 = await l2.create("orders", {"contact": acme})  # created before o1
    o1 = await l1.create("orders", {"contact": acme})
    o3 = await office.create("orders", {"contact": acme})
    assert [l2.get("orders", o2)["number"], l1.get("orders", o1)["number"]] == [
        "P-laptop-2-1",
        "P-laptop-1-1",
    ]
    assert is_provisional(office.get("orders", o3)["number"])
    await sync(l1, l2)  # laptops meet first; main numbers in creation order anyway
    await sync(l1, office)
    await sync(office, hq)
    assert hq.get("orders", first)["number"] == "1"
    got = {o: hq.get("orders", o) for o in (o1, o2, o3)}
    assert [got[o]["number"] for o in (o2, o1, o3)] == ["2", "3", "4"]
    assert got[o2]["provisional_number"] == "P-laptop-2-1"
    await sync(hq, l2)
    [found] = l2.find("orders", "P-laptop-2-1")
    assert (found["id"], found["number"]) == (o2, "2")
    assert l2.find("orders", "2") == [found]
    another = await hq.create("orders", {"contact": acme})
    assert hq.get("orders", another)["number"] == "5"


async def test_deleted_offline_orders_take_no_number(open_peer: OpenPeer) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    gone = await laptop.create("orders", {"contact": acme})
    kept = await laptop.create("orders", {"contact": acme})
    await laptop.delete("orders", gone)
    await sync(laptop, hq)
    assert laptop.get("orders", kept)["number"] == "1"


async def test_main_finishes_numbering_after_a_restart(
    open_peer: OpenPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    order = await laptop.create("orders", {"contact": acme})
    # Merge without numbering, as if main crashed between the two steps.
    with monkeypatch.context() as patch:
        patch.setattr(hq.numbering, "assign", lambda: None)
        await sync(laptop, hq)
    assert is_provisional(hq.get("orders", order)["number"])
    await hq.close()
    hq = await open_peer("hq", "main")
    assert hq.get("orders", order)["number"] == "1"


async def test_forbidden_field_edit_by_a_travel_device_is_ignored(open_peer: OpenPeer) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    office = await open_peer("office-1")
    widget = await hq.create("products", {"name": "Widget", "price": "10.00", "notes": "ok"})
    await sync(hq, laptop)
    _bypass(laptop, "products", {"price": "0.01"}, widget)
    _bypass(laptop, "products", {"notes": "hacked"}, widget)
    await sync(laptop, hq)
    await sync(hq, office)
    for peer in (hq, office, laptop):  # the laptop's own view ignores it too
        got = peer.get("products", widget)
        assert str(got["price"]) == "10.00"
    assert hq.get("products", widget)["notes"] == office.get("products", widget)["notes"] == "ok"
    [rejection] = hq.rejections()
    assert (rejection.record, rejection.device) == (widget, "laptop-1")
    assert "may not change products" in rejection.reason


async def test_forbidden_create_by_a_travel_device_is_ignored(open_peer: OpenPeer) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    rec = RecordDoc.load(laptop.client_id)
    t = laptop.clock.now()
    with rec.doc.transaction():
        rec.init("products", "laptop-1", "travel", t)
        rec.claim_client("laptop-1", "travel")
        rec.put("laptop-1", "travel", t, {"name": "Contraband"})
    laptop.records.commit([("f" * 20, rec)])
    await sync(laptop, hq)
    assert hq.list("products") == []
    assert "may not create products" in hq.rejections()[0].reason


async def test_forbidden_delete_by_a_travel_device_is_ignored_everywhere(
    open_peer: OpenPeer,
) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    _bypass(laptop, "contacts", {"_deleted": True, "phone": "still allowed"}, acme)
    await sync(laptop, hq)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == "still allowed"
    [rejection] = hq.rejections()
    assert "may not delete" in rejection.reason


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"\xff" * 40, b"\x01\x02\x03\x04\x05"])
async def test_malformed_updates_are_dropped_and_the_rest_applied(
    open_peer: OpenPeer, garbage: bytes
) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    acme = await a.create("contacts", {"name": "Acme"})
    state = a.store.state(acme)
    assert state is not None
    result = await b.apply_remote([("0" * 20, garbage), (acme, state)], source="a")
    assert result.changed == 1
    assert result.malformed + result.rejected <= 1
    assert b.get("contacts", acme)["name"] == "Acme"
    assert b.list("contacts") == a.list("contacts")


async def test_records_are_not_echoed_back_to_where_they_came_from(open_peer: OpenPeer) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    ids = [await a.create("contacts", {"name": f"c{i}"}) for i in range(5)]
    await sync(a, b)
    assert b.feed("a", 0) == ([], b.last_seq())  # all came from a, unchanged since
    assert [rid for _, rid, _ in b.feed("c", 0)[0]] == ids  # but c needs them
    await b.update("contacts", ids[0], {"phone": "1"})
    assert [rid for _, rid, _ in b.feed("a", 0)[0]] == [ids[0]]  # changed here: a needs it
