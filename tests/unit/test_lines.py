"""Quote and order lines (issue 13, 5): the total is the sum of the lines, the same on
every replica; a travel device adds lines only to quotes and orders it created."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamsync.peer.replica.lines import amount, totals
from roamsync.schema import PermissionDeniedError
from roamsync.transport.memory import sync

from conftest import OpenPeer


async def test_an_orders_total_is_the_sum_of_its_lines(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    order = await hq.create("orders", {"contact": acme, "total": "1.00"})
    assert hq.get("orders", order)["total"] == Decimal("1.00")  # no lines: as written
    line = await hq.create(
        "order_lines", {"order": order, "quantity": 3, "unit_price": "19.90", "discount": 10}
    )
    await hq.create("order_lines", {"order": order, "quantity": 1.5, "unit_price": "100.00"})
    assert hq.get("orders", order)["total"] == Decimal("203.73")  # 53.73 + 150.00
    await sync(hq, laptop)
    assert laptop.get("orders", order)["total"] == Decimal("203.73")
    await hq.delete("order_lines", line)
    await sync(hq, laptop)
    for peer in (hq, laptop):
        assert peer.get("orders", order)["total"] == Decimal("150.00")
        assert [o["total"] for o in peer.list("orders")] == [Decimal("150.00")]


async def test_a_travel_device_adds_lines_only_to_its_own_orders(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    acme = await hq.create("contacts", {"name": "Acme"})
    mains = await hq.create("orders", {"contact": acme})
    await sync(hq, laptop)
    with pytest.raises(PermissionDeniedError, match="orders it created"):
        await laptop.create("order_lines", {"order": mains, "quantity": 1, "unit_price": "1"})
    own = await laptop.create("orders", {"contact": acme})
    line = await laptop.create("order_lines", {"order": own, "quantity": 2, "unit_price": "5"})
    with pytest.raises(PermissionDeniedError, match="orders it created"):
        await laptop.update("order_lines", line, {"order": mains})  # moved to main's order
    await sync(laptop, hq)
    assert hq.get("orders", own)["total"] == Decimal("10.00")
    await hq.update("order_lines", line, {"quantity": 3})  # main may edit any line
    await sync(hq, laptop)
    assert laptop.get("orders", own)["total"] == Decimal("15.00")


@given(
    st.lists(
        st.tuples(
            st.integers(0, 1000),
            st.decimals(0, 10_000, places=2),
            st.integers(0, 100),
        ),
        max_size=8,
    )
)
def test_the_total_does_not_depend_on_the_order_of_the_lines(
    lines: list[tuple[int, Decimal, int]],
) -> None:
    rows = [{"order": "o", "quantity": q, "unit_price": str(p), "discount": d} for q, p, d in lines]
    forward = totals(rows, "order").get("o", Decimal("0.00"))
    backward = totals(list(reversed(rows)), "order").get("o", Decimal("0.00"))
    assert forward == backward == sum((amount(r) for r in rows), Decimal("0.00"))
    assert forward == forward.quantize(Decimal("0.01"))
