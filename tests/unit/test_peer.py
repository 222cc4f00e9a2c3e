"""The Peer API: records, validation, permissions, conflicts, policies, deletes, persistence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from roamsync.peer import Peer
from roamsync.schema import (
    ConflictNotFoundError,
    FieldTypeError,
    MissingFieldError,
    PeerClosedError,
    PermissionDeniedError,
    ReadOnlyFieldError,
    RecordNotFoundError,
    RoamsyncError,
    SchemaError,
    StoreError,
    UnknownFieldError,
    UnknownModuleError,
    UsageError,
)
from roamsync.transport.memory import sync

from conftest import OpenPeer


async def test_create_get_update_list_delete(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1")
    acme = await peer.create("contacts", {"name": "Acme AS", "phone": "+47 1"})
    beta = await peer.create("contacts", {"name": "Beta"})
    await peer.update("contacts", acme, {"phone": "+47 2", "customer": True})
    got = peer.get("contacts", acme)
    assert got["id"] == acme
    assert (got["name"], got["phone"], got["customer"], got["email"]) == (
        "Acme AS",
        "+47 2",
        True,
        None,
    )
    assert [r["id"] for r in peer.list("contacts")] == sorted([acme, beta])
    await peer.delete("contacts", beta)
    assert [r["id"] for r in peer.list("contacts")] == [acme]
    with pytest.raises(RecordNotFoundError):
        peer.get("contacts", beta)
    assert peer.count("contacts") == 1


async def test_typed_values_come_back_typed(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1")
    acme = await peer.create("contacts", {"name": "Acme"})
    order = await peer.create(
        "orders", {"contact": acme, "total": Decimal("99.5"), "order_date": dt.date(2026, 1, 2)}
    )
    got = peer.get("orders", order)
    assert got["total"] == Decimal("99.50")
    assert got["order_date"] == dt.date(2026, 1, 2)
    await peer.update("orders", order, {"total": None})
    assert peer.get("orders", order)["total"] is None


@pytest.mark.parametrize(
    ("module", "fields", "error"),
    [
        ("customers", {"name": "x"}, UnknownModuleError),
        ("contacts", {"name": "x", "colour": "red"}, UnknownFieldError),
        ("contacts", {"name": 42}, FieldTypeError),
        ("contacts", {"phone": "1"}, MissingFieldError),
        ("products", {"name": "x", "price": 0.1}, FieldTypeError),
        ("orders", {"contact": "nope"}, RecordNotFoundError),
        ("orders", {"contact": "x", "number": "7"}, ReadOnlyFieldError),
    ],
)
async def test_bad_input_raises_and_writes_nothing(
    open_peer: OpenPeer, module: str, fields: dict[str, object], error: type[Exception]
) -> None:
    peer = await open_peer("office-1")
    before = peer.last_seq()
    with pytest.raises(error) as caught:
        await peer.create(module, fields)
    assert isinstance(caught.value, RoamsyncError)
    assert peer.last_seq() == before


async def test_missing_or_wrong_module_record(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1")
    acme = await peer.create("contacts", {"name": "Acme"})
    with pytest.raises(RecordNotFoundError):
        await peer.update("contacts", "0" * 20, {"name": "x"})
    with pytest.raises(RecordNotFoundError):
        peer.get("orders", acme)  # exists, but in another module
    await peer.delete("contacts", acme)
    before = peer.last_seq()
    with pytest.raises(RecordNotFoundError):
        await peer.update("contacts", acme, {"name": "zombie"})
    assert peer.last_seq() == before


async def test_travel_permission_matrix_is_enforced_by_the_api(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    main_order = await hq.create("orders", {"contact": acme})
    await sync(hq, laptop)
    before = laptop.last_seq()
    with pytest.raises(PermissionDeniedError, match="products"):
        await laptop.create("products", {"name": "Widget"})
    with pytest.raises(PermissionDeniedError, match="contacts"):
        await laptop.delete("contacts", acme)
    with pytest.raises(PermissionDeniedError, match="created itself"):
        await laptop.update("orders", main_order, {"status": "changed"})
    with pytest.raises(PermissionDeniedError):
        await laptop.delete("orders", main_order)
    assert laptop.last_seq() == before
    await laptop.update("contacts", acme, {"phone": "1"})  # contacts: edit allowed
    own = await laptop.create("orders", {"contact": acme})
    await laptop.update("orders", own, {"status": "draft"})  # own offline order
    await laptop.delete("orders", own)


async def test_concurrent_writes_to_different_fields_both_survive(open_peer: OpenPeer) -> None:
    a, b = await open_peer("office-1"), await open_peer("office-2")
    acme = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await a.update("contacts", acme, {"phone": "111"})
    await b.update("contacts", acme, {"email": "b@acme"})
    await sync(a, b)
    for peer in (a, b):
        got = peer.get("contacts", acme)
        assert (got["phone"], got["email"]) == ("111", "b@acme")
        assert peer.conflicts() == []


async def test_main_wins_a_same_field_conflict_even_when_earlier(open_peer: OpenPeer) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    await hq.update("contacts", acme, {"phone": "main"})
    await laptop.update("contacts", acme, {"phone": "laptop"})  # later, but not main
    await sync(laptop, hq)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == "main"
        [conflict] = peer.conflicts()
        assert conflict.field == "phone"
        assert conflict.status == "open"
        assert conflict.policy == "central"
        assert conflict.winner["device"] == "hq"
        assert {(v["value"], v["device"]) for v in conflict.values} == {
            ("main", "hq"),
            ("laptop", "laptop-1"),
        }


async def test_without_main_the_later_write_wins(open_peer: OpenPeer) -> None:
    a, b, c = await open_peer("office-a"), await open_peer("office-b"), await open_peer("office-c")
    acme = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await sync(a, c)
    await c.update("contacts", acme, {"phone": "c-first"})
    await b.update("contacts", acme, {"phone": "b-later"})
    await sync(c, a)
    await sync(b, a)
    await sync(a, c)
    for peer in (a, b, c):
        assert peer.get("contacts", acme)["phone"] == "b-later"


async def test_a_write_that_saw_the_conflict_closes_it(open_peer: OpenPeer) -> None:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    await hq.update("contacts", acme, {"phone": "main"})
    await laptop.update("contacts", acme, {"phone": "laptop"})
    await sync(laptop, hq)
    await laptop.update("contacts", acme, {"phone": "agreed"})  # had seen both
    await sync(laptop, hq)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == "agreed"
        [conflict] = peer.conflicts()
        assert (conflict.status, conflict.resolved_by) == ("resolved", "laptop-1")
        assert conflict.winner["value"] == "main"  # what the log showed until then


async def _conflict(open_peer: OpenPeer) -> tuple[Peer, Peer, str]:
    hq, laptop = await open_peer("hq", "main"), await open_peer("laptop-1", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    await sync(hq, laptop)
    await laptop.update("contacts", acme, {"phone": "laptop"})
    await hq.update("contacts", acme, {"phone": "main"})
    await sync(laptop, hq)
    return hq, laptop, acme


@pytest.mark.parametrize(
    ("policy", "expected"), [("central", "main"), ("local", "laptop"), ("latest", "main")]
)
async def test_check_in_policies(open_peer: OpenPeer, policy: str, expected: str) -> None:
    hq, laptop, acme = await _conflict(open_peer)
    assert await laptop.apply_policy(policy) == 1
    await sync(laptop, hq)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == expected
        [conflict] = peer.conflicts()
        assert (conflict.status, conflict.policy) == ("resolved", policy)
        assert conflict.winner["value"] == expected


async def test_manual_policy_leaves_conflicts_pending_until_picked(open_peer: OpenPeer) -> None:
    hq, laptop, acme = await _conflict(open_peer)
    assert await laptop.apply_policy("manual") == 0
    [pending] = laptop.conflicts()
    assert pending.status == "pending"
    assert hq.conflicts()[0].status == "open"  # pending is the laptop's own state
    with pytest.raises(ConflictNotFoundError):
        await laptop.resolve("contacts", acme, "email", pick=0)
    index = [v["value"] for v in pending.values].index("laptop")
    await laptop.resolve("contacts", acme, "phone", pick=index)
    await sync(laptop, hq)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == "laptop"
        [done] = peer.conflicts()
        assert (done.status, done.policy, done.winner["value"]) == ("resolved", "manual", "laptop")


async def test_resolve_by_a_new_value(open_peer: OpenPeer) -> None:
    hq, laptop, acme = await _conflict(open_peer)
    await hq.resolve("contacts", acme, "phone", value="merged")
    await sync(hq, laptop)
    for peer in (hq, laptop):
        assert peer.get("contacts", acme)["phone"] == "merged"
        assert peer.conflicts()[0].winner["value"] == "merged"


async def test_closed_conflicts_expire_after_seven_days(open_peer: OpenPeer, clock) -> None:  # type: ignore[no-untyped-def]
    _hq, laptop, _acme = await _conflict(open_peer)
    await laptop.apply_policy("local")
    assert [c.status for c in laptop.conflicts()] == ["resolved"]
    clock.start += 6 * 86_400
    assert len(laptop.conflicts()) == 1
    clock.start += 2 * 86_400
    assert laptop.conflicts() == []


async def test_delete_wins_over_a_concurrent_edit_which_is_logged(open_peer: OpenPeer) -> None:
    a, b = await open_peer("office-a"), await open_peer("office-b")
    acme = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await a.delete("contacts", acme)
    await b.update("contacts", acme, {"phone": "edited meanwhile"})
    await sync(a, b)
    for peer in (a, b):
        assert peer.list("contacts") == []
        [conflict] = peer.conflicts()
        assert (conflict.field, conflict.policy, conflict.winner["device"]) == (
            "phone",
            "delete",
            "office-a",
        )
        assert "edited meanwhile" in [v["value"] for v in conflict.values]
    await b.restore("contacts", acme)
    await sync(a, b)
    for peer in (a, b):
        assert peer.get("contacts", acme)["phone"] == "edited meanwhile"


async def test_notes_merge_character_by_character(open_peer: OpenPeer) -> None:
    a, b = await open_peer("office-a"), await open_peer("office-b")
    acme = await a.create("contacts", {"name": "Acme", "notes": "Met at the fair."})
    await sync(a, b)
    await a.update("contacts", acme, {"notes": "Met at the fair in Malmö."})
    await b.update("contacts", acme, {"notes": "Met at the fair. Wants 😀 offer."})
    await sync(a, b)
    merged = "Met at the fair in Malmö. Wants 😀 offer."
    assert a.get("contacts", acme)["notes"] == b.get("contacts", acme)["notes"] == merged
    assert a.conflicts() == []


async def test_reopen_rebuilds_the_same_view(open_peer: OpenPeer) -> None:
    _hq, laptop, acme = await _conflict(open_peer)
    order = await laptop.create("orders", {"contact": acme, "notes": "rush"})
    before = (laptop.list("contacts"), laptop.list("orders"), laptop.conflicts())
    await laptop.close()
    with pytest.raises(PeerClosedError):
        laptop.get("orders", order)
    again = await open_peer("laptop-1", "travel")
    assert (again.list("contacts"), again.list("orders"), again.conflicts()) == before
    await again.update("orders", order, {"status": "x"})  # still its own: no PermissionDeniedError


async def test_a_store_belongs_to_one_device(open_peer: OpenPeer) -> None:
    peer = await open_peer("laptop-1", "travel")
    await peer.close()
    with pytest.raises(StoreError, match="laptop-1"):
        await open_peer("laptop-1", "main")


async def test_documents_are_not_all_kept_in_memory(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1", cache_size=8)
    ids = [await peer.create("contacts", {"name": f"c{i}"}) for i in range(50)]
    assert len(peer.cache) <= 8
    for i, record in enumerate(ids):
        await peer.update("contacts", record, {"phone": str(i)})
    assert [r["phone"] for r in peer.list("contacts")] == [
        str(ids.index(r["id"])) for r in peer.list("contacts")
    ]
    assert len(peer.cache) <= 8


async def test_repeated_edits_do_not_grow_storage(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1")
    acme = await peer.create("contacts", {"name": "Acme", "notes": "x"})
    sizes = []
    for round_ in range(4):
        for i in range(250):
            await peer.update("contacts", acme, {"phone": f"{round_}-{i}", "notes": f"n{i}"})
        state = peer.store.state(acme)
        assert state is not None
        sizes.append(len(state))
    assert sizes[-1] <= sizes[0] + 64, sizes  # bounded, not 1000 edits' worth
    assert sizes[-1] < 1024


async def test_bad_arguments_are_usage_errors(open_peer: OpenPeer) -> None:
    with pytest.raises(UsageError, match="role"):
        await open_peer("x", "boss")
    peer = await open_peer("office-1")
    with pytest.raises(UsageError, match="policy"):
        await peer.apply_policy("coin-flip")
    with pytest.raises(SchemaError, match="mapping"):
        await peer.create("contacts", ["name", "Acme"])  # type: ignore[arg-type]


async def test_restoring_a_live_record_writes_nothing(open_peer: OpenPeer) -> None:
    peer = await open_peer("office-1")
    acme = await peer.create("contacts", {"name": "Acme"})
    before = peer.last_seq()
    await peer.restore("contacts", acme)
    assert peer.last_seq() == before
    await peer.delete("contacts", acme)
    await peer.restore("contacts", acme)
    assert peer.get("contacts", acme)["name"] == "Acme"
    assert peer.last_seq() == before + 2
