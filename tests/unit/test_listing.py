"""Lists paged on the server (issue 14, 4): the listing beside the search index, in step
with local writes, merges, deletes and restores, and pages that concatenate to the list."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamsync.peer import Peer
from roamsync.peer.replica.bulk import create_many
from roamsync.peer.replica.listing import list_key, number_key, sort_field
from roamsync.peer.replica.peer import INDEX_SLICE
from roamsync.schema import UsageError, get_module
from roamsync.transport.memory import sync

from conftest import FakeClock, OpenPeer, loop_turns


def old_number_order(number: str, rid: str) -> tuple[int, int, str, str]:
    """How quotes and orders were sorted before the listing (ops.records._by_number)."""
    if number.isdigit():
        return (0, int(number), "", rid)
    head, _, count = number.rpartition("-")
    return (1, int(count) if count.isdigit() else 0, head, rid)


def test_number_keys_final_numbers_in_order_then_provisional_ones() -> None:
    numbers = ["10", "9", "P-b-1", "P-a-2", "P-a-10", "1", "100", "P-a-1", ""]
    ordered = sorted(numbers, key=lambda n: (number_key(n), n))
    assert ordered == ["1", "9", "10", "100", "", "P-a-1", "P-b-1", "P-a-2", "P-a-10"]


@given(st.lists(st.text("0123456789P-ab", max_size=8), max_size=30))
def test_number_keys_sort_as_the_old_order_did(numbers: list[str]) -> None:
    rows = [(n, f"r{i:02d}") for i, n in enumerate(numbers)]
    by_key = sorted(rows, key=lambda r: (number_key(r[0]), r[1]))
    assert by_key == sorted(rows, key=lambda r: old_number_order(*r))


def test_each_module_is_listed_by_its_name_number_title_or_parent() -> None:
    fields = {m: sort_field(get_module(m)) for m in ("contacts", "orders", "documents")}
    assert fields == {"contacts": "name", "orders": "number", "documents": "title"}
    assert sort_field(get_module("order_lines")) == "order"  # grouped by their order
    assert sort_field(get_module("time_registrations")) == "date"
    assert sort_field(get_module("stock")) is None  # by id alone
    contacts = get_module("contacts")
    assert list_key(contacts, {"name": "Ærø Bygg"}) == list_key(contacts, {"name": "æRØ bygg"})
    assert list_key(get_module("order_lines"), {"order": "AbC"}) == "AbC"  # ids keep case


def names(records: list[dict[str, Any]]) -> list[str]:
    return [str(r["name"]) for r in records]


def whole(peer: Peer, module: str = "contacts", **order: Any) -> list[dict[str, Any]]:
    """Every live record, page by page (3 a page): what a reader paging through sees."""
    out: list[dict[str, Any]] = []
    for offset in range(0, 1000, 3):
        page, _ = peer.page(module, offset, 3, **order)
        out += page
        if len(page) < 3:
            return out
    raise AssertionError("more pages than records")


async def test_pages_follow_writes_deletes_and_restores(open_peer: OpenPeer) -> None:
    peer = await open_peer("hq", "main")
    ids = {n: await peer.create("contacts", {"name": n}) for n in ("delta", "Alfa", "charlie")}
    await peer.create("contacts", {"name": "bravo"})
    assert names(whole(peer)) == ["Alfa", "bravo", "charlie", "delta"]  # case ignored
    assert peer.page("contacts", 1, 2) == (whole(peer)[1:3], 4)
    await peer.update("contacts", ids["delta"], {"name": "Aaron"})  # moves to the top
    assert names(whole(peer)) == ["Aaron", "Alfa", "bravo", "charlie"]
    await peer.delete("contacts", ids["Alfa"])
    assert names(whole(peer)) == ["Aaron", "bravo", "charlie"]
    assert peer.page("contacts", 0, 50)[1] == 3
    await peer.restore("contacts", ids["Alfa"])
    assert names(whole(peer)) == ["Aaron", "Alfa", "bravo", "charlie"]
    assert names(whole(peer, descending=True)) == ["charlie", "bravo", "Alfa", "Aaron"]
    # as last changed here: the restore is the latest change, the rename the one before
    assert names(whole(peer, order="changed", descending=True))[:2] == ["Alfa", "Aaron"]
    assert names(whole(peer, order="changed")) == ["charlie", "bravo", "Aaron", "Alfa"]
    with pytest.raises(UsageError):
        peer.page("contacts", 0, 3, order="email")


async def test_pages_follow_merges_without_waiting(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    ids = [await hq.create("contacts", {"name": f"Kunde {i:03d}"}) for i in range(150)]
    await sync(hq, laptop)  # 150 arrive new (read by the worker): queued, not yet listed
    assert laptop.store.pending_index(1000)
    assert laptop.page("contacts", 0, 500)[1] == 150  # listed before the page is read
    await laptop.update("contacts", ids[7], {"name": "A renamed on the road"})
    await hq.delete("contacts", ids[8])
    await sync(laptop, hq)  # the rename merges into hq, the delete into the laptop
    assert hq.store.pending_index(10)
    for peer in (hq, laptop):
        first, total = peer.page("contacts", 0, 2)
        assert names(first) == ["A renamed on the road", "Kunde 000"]
        assert total == 149
        assert ids[8] not in {r["id"] for r in whole(peer)}
    await hq.restore("contacts", ids[8])
    await sync(hq, laptop)
    assert "Kunde 008" in names(whole(laptop))


async def test_a_backlog_is_indexed_a_slice_at_a_time_the_loop_turning_between(
    open_peer: OpenPeer,
) -> None:
    """What merges queued is indexed for a page or search in slices (``Peer.indexed``),
    so a page after a large merge does not hold the event loop for all of it."""
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    count = 3 * INDEX_SLICE + 10
    await create_many(hq, "contacts", [(None, {"name": f"Kunde {i:04d}"}) for i in range(count)])
    await sync(hq, laptop)
    assert len(laptop.store.pending_index(10_000)) == count
    async with loop_turns() as turns:
        await laptop.indexed()
    assert turns[0] >= 3  # between the slices
    assert laptop.store.pending_index(10) == []
    assert laptop.page("contacts", 0, 1)[1] == count
    assert [r["name"] for r in laptop.search("contacts", "Kunde 0759")] == ["Kunde 0759"]


async def test_a_merge_indexes_at_once_while_pages_are_read(open_peer: OpenPeer) -> None:
    """A peer whose pages nobody reads leaves a merge's records queued (an initial sync
    is not slowed); once a page or search was read there, a merge indexes them at once,
    so the next page finds nothing to wait for."""
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    batch = [(None, {"name": f"Kunde {i:04d}"}) for i in range(300)]
    await create_many(hq, "contacts", batch)
    await sync(hq, laptop)
    assert len(laptop.store.pending_index(1000)) == 300
    await laptop.indexed()  # what a page or search does first
    await create_many(hq, "contacts", batch)
    await sync(hq, laptop)
    assert laptop.store.pending_index(10) == []
    assert laptop.page("contacts", 0, 1)[1] == 600


@pytest.mark.parametrize(
    "before",
    [
        "DROP TABLE listing; DROP TABLE listing_counts;",
        "DELETE FROM meta WHERE key = 'indexed'; DELETE FROM listing; DELETE FROM search;",
    ],
    ids=["without-the-tables", "indexed-before-the-listing"],
)
async def test_a_store_made_before_the_listing_is_listed_when_opened(
    open_peer: OpenPeer, tmp_path: Path, before: str
) -> None:
    peer = await open_peer("hq", "main")
    for name in ("b", "a", "c"):
        await peer.create("contacts", {"name": name})
    gone = await peer.create("contacts", {"name": "deleted"})
    await peer.delete("contacts", gone)
    await peer.close()
    db = sqlite3.connect(tmp_path / "hq" / "roamsync.sqlite3")
    db.executescript(before)
    db.close()
    again = await open_peer("hq", "main")
    assert again.page("contacts", 0, 10) == (whole(again), 3)
    assert names(whole(again)) == ["a", "b", "c"]
    assert names(again.search("contacts", "b")) == ["b"]
    assert not again.store.needs_index
    await again.close()
    third = await open_peer("hq", "main")  # indexed once: not again
    assert not third.store.needs_index


async def test_the_totals_on_a_page_come_from_their_own_lines(open_peer: OpenPeer) -> None:
    peer = await open_peer("hq", "main")
    acme = await peer.create("contacts", {"name": "Acme"})
    orders = [await peer.create("orders", {"contact": acme, "total": "5.00"}) for _ in range(3)]
    line = {"quantity": 2, "unit_price": "10.00"}
    first = await peer.create("order_lines", {"order": orders[0], **line})
    await peer.create("order_lines", {"order": orders[0], **line, "discount": 50})
    await peer.create("order_lines", {"order": orders[2], **line})
    page, total = peer.page("orders", 0, 10)
    assert total == 3
    assert [r["number"] for r in page] == ["1", "2", "3"]
    assert [r["total"] for r in page] == [Decimal("30.00"), Decimal("5.00"), Decimal("20.00")]
    assert [r["total"] for r in page] == [peer.get("orders", o)["total"] for o in orders]
    await peer.delete("order_lines", first)
    assert peer.page("orders", 0, 1)[0][0]["total"] == Decimal("10.00")


# -- the property: pages concatenate to the whole list, in every order ----------------------

NAMES = ["anna", "Anna", "Ånna", "bo", "Bo", "carl", "", "ærø", "Zed", "ole"]
step = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 1), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.integers(0, 1), st.integers(0, 20), st.sampled_from(NAMES)),
    st.tuples(st.just("delete"), st.just(0), st.integers(0, 20)),
    st.tuples(st.just("restore"), st.just(0), st.integers(0, 20)),
    st.tuples(st.just("sync"), st.integers(0, 1)),
)


async def program(root: Path, steps: list[tuple[Any, ...]], size: int) -> None:
    clock = FakeClock()
    peers = [
        await Peer.open(root / "hq", device="hq", role="main", clock=clock),
        await Peer.open(root / "office", device="office", role="office", clock=clock),
    ]
    ids: list[str] = []
    try:
        for kind, side, *args in steps:
            await apply(peers, side, kind, args, ids)
            check_pages(peers[side], size)
        await sync(peers[0], peers[1])
        for peer in peers:
            check_pages(peer, size)
    finally:
        for peer in peers:
            await peer.close()


async def apply(peers: list[Peer], side: int, kind: str, args: list[Any], ids: list[str]) -> None:
    peer = peers[side]
    known = [i for i in ids if peer.store.view(i) is not None]
    live = {r["id"] for r in peer.list("contacts")}
    if kind == "create":
        ids.append(await peer.create("contacts", {"name": args[0] or "-"}))
    elif kind == "sync":
        await sync(peers[side], peers[1 - side])
    elif known:
        rid = known[args[0] % len(known)]
        if kind == "rename" and rid in live:
            await peer.update("contacts", rid, {"name": args[1] or "-"})
        elif kind == "delete" and rid in live:
            await peer.delete("contacts", rid)
        elif kind == "restore":
            await peer.restore("contacts", rid)


def check_pages(peer: Peer, size: int) -> None:
    """Pages of ``size`` concatenate to every live record: by name (case-folded, ties by
    id), reversed, and as the change feed last saw them; the total is the live count."""
    live = peer.list("contacts")
    by_name = [r["id"] for r in sorted(live, key=lambda r: (r["name"].casefold(), r["id"]))]
    feed = [rid for _, rid, _ in peer.store.changes(0, 100_000) if rid in {r["id"] for r in live}]
    for order, descending, expected in (
        ("key", False, by_name),
        ("key", True, by_name[::-1]),
        ("changed", False, feed),
        ("changed", True, feed[::-1]),
    ):
        pages = []
        for offset in range(0, len(live) + size, size):
            page, total = peer.page("contacts", offset, size, order=order, descending=descending)
            assert total == len(live)
            pages += [r["id"] for r in page]
        assert pages == expected, (order, descending)


@pytest.mark.timeout(300)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=25), st.integers(1, 4))
def test_pages_concatenate_to_the_whole_list(steps: list[tuple[Any, ...]], size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="roamsync-listing-") as tmp:
        asyncio.run(program(Path(tmp), steps, size))
