"""The list pages (issue 14, 4), over HTTP: paged on the server, "n to m of N", sorted by
name or number either way or as last changed (the sorted column says so to assistive
technology), searched a page at a time; deleted records never shown, merged ones at
their place when the page is asked for, a page number past the end shows the last."""

from __future__ import annotations

import re

import pytest

from roamsync.peer import ops
from roamsync.peer.replica.bulk import create_many

from conftest import Company, until
from webclient import Web, web_fixture  # noqa: F401 (a fixture)

pytestmark = pytest.mark.xdist_group("daemons")
TO = "\N{EN DASH}"  # as in "1 (en dash) 50 of 120"


async def page(web: Web, path: str = "/records/contacts", **query: str) -> str:
    response = await web.client.get(path, params=query)
    assert response.status == 200
    return await response.text()


def caption(text: str) -> str:
    found = re.search(r"<caption>(.*?)</caption>", text, re.S)
    assert found, text
    return " ".join(found.group(1).split())


def shown(text: str, module: str = "contacts") -> list[str]:
    """The record ids on a list page, in order."""
    return re.findall(rf'<a href="/records/{module}/([0-9a-f]+)">', text)


async def fill(web: Web, n: int) -> list[str]:
    rows = [(None, {"name": f"Firma {i:03d}"}) for i in range(n)]
    return await create_many(web.hq.peer, "contacts", rows)


async def test_pages_of_fifty_with_their_range_and_total(web: Web) -> None:
    ids = await fill(web, 120)
    assert await web.login() == 302
    first = await page(web)
    assert caption(first) == f"1{TO}50 of 120, by name"
    assert shown(first) == ids[:50]  # made in name order
    assert 'aria-sort="ascending"' in first
    assert 'rel="next" href="?page=2"' in first
    third = await page(web, page="3")
    assert caption(third) == f"101{TO}120 of 120, by name"
    assert shown(third) == ids[100:]
    assert "Page 3 of 3" in third
    assert 'rel="next"' not in third
    assert shown(await page(web, page="99")) == ids[100:]  # past the end: the last page
    for bad in ("0", "-1", "x", "²", "9" * 40):
        assert shown(await page(web, page=bad)) == ids[:50]


async def test_sorted_either_way_and_as_last_changed(web: Web) -> None:
    ids = await fill(web, 60)
    await web.hq.peer.update("contacts", ids[5], {"name": "Aaron AS"})
    assert await web.login() == 302
    reversed_ = await page(web, order="desc")
    assert caption(reversed_) == f"1{TO}50 of 60, by name, reversed"
    assert 'aria-sort="descending"' in reversed_
    assert shown(reversed_)[:2] == [ids[59], ids[58]]
    assert shown(reversed_)[-1] != ids[5]
    assert shown(await page(web, order="desc", page="2"))[-1] == ids[5]
    changed = await page(web, sort="changed", order="desc")
    assert shown(changed)[0] == ids[5]  # the rename is the latest change
    assert 'aria-current="true">last changed first' in changed
    assert "aria-sort" not in changed  # no column is the order
    assert 'href="?sort=changed&amp;order=desc&amp;page=2"' in changed  # paging keeps it
    oldest = await page(web, sort="changed")
    assert caption(oldest) == f"1{TO}50 of 60, longest unchanged first"
    assert shown(oldest)[:2] == [ids[0], ids[1]]
    expected = await ops.list_page(web.hq, "contacts", 50, 50, "changed", True)
    assert shown(await page(web, sort="changed", order="desc", page="2")) == [
        r["id"] for r in expected["records"]
    ]


async def test_search_a_page_at_a_time(web: Web) -> None:
    await fill(web, 70)
    await web.hq.peer.create("contacts", {"name": "Fjord AS"})
    assert await web.login() == 302
    first = await page(web, q="firma")
    assert caption(first) == f"1{TO}50 of the matches for “firma”, best first"
    assert len(shown(first)) == 50
    assert 'href="?q=firma&amp;page=2"' in first
    second = await page(web, q="firma", page="2")
    assert caption(second) == f"51{TO}70 of 70, best matches for “firma” first"
    assert not set(shown(first)) & set(shown(second))
    nothing = await page(web, q="nowhere")
    assert "No contacts found for “nowhere”" in caption(nothing)
    quoted = await page(web, q='"><b>x')
    assert "<b>x" not in quoted
    assert "&gt;&lt;b&gt;x" in quoted


async def test_deleted_records_go_and_merged_ones_take_their_place(
    web: Web, company: Company
) -> None:
    ids = await fill(web, 3)
    office = await company.add(web.hq, "office")
    await until(lambda: office.peer.count("contacts") == 3)
    moved = await office.peer.create("contacts", {"name": "Aaa from the office"})
    await office.peer.update("contacts", ids[2], {"name": "Aab renamed at the office"})
    await web.hq.peer.delete("contacts", ids[1])
    await until(lambda: web.hq.peer.store.view(moved) is not None)
    await until(lambda: "Aab" in str(web.hq.peer.get("contacts", ids[2])["name"]))
    assert await web.login() == 302
    text = await page(web)
    assert shown(text) == [moved, ids[2], ids[0]]
    assert caption(text) == f"1{TO}3 of 3, by name"
    await web.hq.peer.restore("contacts", ids[1])
    assert shown(await page(web)) == [moved, ids[2], ids[0], ids[1]]


async def test_orders_by_number_with_their_totals(web: Web) -> None:
    hq = web.hq.peer
    acme = await hq.create("contacts", {"name": "Acme AS"})
    orders = [await hq.create("orders", {"contact": acme}) for _ in range(12)]
    await hq.create("order_lines", {"order": orders[10], "quantity": 3, "unit_price": "2.50"})
    assert await web.login() == 302
    text = await page(web, "/records/orders", order="desc")
    assert shown(text, "orders")[:3] == [orders[11], orders[10], orders[9]]
    assert "7.50" in text  # the total of order 11, from its line
    assert "Acme AS (" in text  # references by name
    assert caption(text) == f"1{TO}12 of 12, by number, reversed"
