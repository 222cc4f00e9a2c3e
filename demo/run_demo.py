"""In-process demo: a main, an office and a travel device converge after offline work.

Run with ``make demo``. Each device is a real replica with its own SQLite store
in a temporary directory; they sync through the same protocol messages the
network will carry (``roamsync.transport.memory``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from roamsync.peer import Peer
from roamsync.transport.memory import sync


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [["" if r.get(c) is None else str(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def say(text: str) -> None:
    print(f"\n== {text}")


async def scenario(root: Path) -> None:
    hq = await Peer.open(root / "hq", device="hq", role="main")
    office = await Peer.open(root / "office", device="office-pc", role="office")
    laptop = await Peer.open(root / "laptop", device="laptop-anna", role="travel")
    peers = (hq, office, laptop)

    say("main sets up the company database and everyone syncs")
    acme = await hq.create("contacts", {"name": "Acme AS", "phone": "+47 22 00 00 00"})
    nordic = await hq.create("contacts", {"name": "Nordic Tools AB", "email": "info@nordic.se"})
    widget = await hq.create("products", {"name": "Widget", "price": "120.00"})
    await hq.create("orders", {"contact": acme, "total": "240.00", "title": "2 widgets"})
    await sync(hq, office)
    await sync(office, laptop)
    print(f"laptop has {laptop.count('contacts')} contacts, {laptop.count('orders')} order")

    say("the laptop goes offline; both sides keep working")
    await laptop.update("contacts", acme, {"phone": "+47 99 99 99 99", "notes": "Met Kari."})
    await hq.update("contacts", acme, {"phone": "+47 22 11 11 11"})  # same field: conflict
    await office.update("contacts", nordic, {"phone": "+46 8 123 45"})
    await laptop.update("contacts", nordic, {"email": "sales@nordic.se"})  # other field: merges
    offline_orders = [
        await laptop.create("orders", {"contact": acme, "total": "360.00", "title": "3 widgets"}),
        await laptop.create("orders", {"contact": nordic, "total": "120.00", "title": "1 widget"}),
    ]
    for order in offline_orders:
        print(
            f"laptop created order with provisional number {laptop.get('orders', order)['number']}"
        )
    try:
        await laptop.update("products", widget, {"price": "1.00"})
    except Exception as exc:  # the permission matrix, enforced by the local API
        print(f"laptop may not change prices: {type(exc).__name__}: {exc}")

    say("the laptop comes back to the office and syncs with the office PC, which syncs with main")
    await sync(laptop, office)
    await sync(office, hq)
    await sync(office, laptop)

    say("converged contacts (identical on all three devices)")
    views = [p.list("contacts") for p in peers]
    assert views[0] == views[1] == views[2], "replicas differ"
    print(table(views[0], ["name", "phone", "email", "notes"]))

    say("orders: main renumbered the offline ones; the provisional number stays searchable")
    orders = sorted(hq.list("orders"), key=lambda o: int(o["number"]))
    print(table(orders, ["number", "provisional_number", "title", "total"]))
    found = laptop.find("orders", "P-laptop-anna-1")[0]
    print(f"laptop searches P-laptop-anna-1 -> order {found['number']}")

    say("conflict log (main's value won the same-field conflict)")
    rows = [
        {
            "field": c.field,
            "values": ", ".join(f"{v['value']!r} by {v['device']}" for v in c.values),
            "winner": c.winner["value"],
            "policy": c.policy,
            "status": c.status,
        }
        for c in hq.conflicts()
    ]
    print(table(rows, ["field", "values", "winner", "policy", "status"]))

    say("at check-in Anna keeps her own phone number (policy: keep local)")
    await laptop.apply_policy("local")
    await sync(laptop, office)
    await sync(office, hq)
    print(f"phone on main is now {hq.get('contacts', acme)['phone']}")
    log = [{"policy": c.policy, "status": c.status} for c in hq.conflicts()]
    print(table(log, ["policy", "status"]))
    for peer in peers:
        await peer.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="roamsync-demo-") as tmp:
        asyncio.run(scenario(Path(tmp)))
    print("\ndemo finished: all replicas converged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
