"""Backup and restore (issue 13, 7): a consistent copy while the node runs; a restored
main rejoins with a new store, gets back what changed since (deletions included) and
never hands out a final number twice: numbers stay unique and gap-free."""

from __future__ import annotations

import stat
from functools import partial
from pathlib import Path

import pytest

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import load_config
from roamsync.schema import UsageError

from conftest import Company, until

pytestmark = pytest.mark.xdist_group("daemons")


def settled(node: Node) -> bool:
    """Six orders, every one with a final number."""
    found = numbers(node)
    return len(found) == 6 and all(n.isdigit() for n in found)


def numbers(node: Node) -> list[str]:
    return sorted((str(o["number"]) for o in node.peer.list("orders")), key=lambda n: (len(n), n))


async def test_a_restored_main_numbers_nothing_twice(company: Company, tmp_path: Path) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    laptop = await company.add(hq, "laptop", "travel")
    acme = await hq.peer.create("contacts", {"name": "Acme AS"})
    first = [await hq.peer.create("orders", {"contact": acme}) for _ in range(3)]
    await until(
        lambda: len(laptop.peer.list("orders")) == 3 and len(office.peer.list("orders")) == 3
    )

    copy = tmp_path / "hq.backup"
    done = await ops.backup(hq, str(copy))  # while it serves
    assert done["records"] > 0
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    after = await hq.peer.create("orders", {"contact": acme})  # number 4, after the backup
    await hq.peer.delete("orders", first[1])  # deleted after the backup
    roaming = await laptop.peer.create("orders", {"contact": acme})  # main numbers it 5
    await until(lambda: laptop.peer.get("orders", roaming)["number"] == "5")
    await until(lambda: len(office.peer.list("orders")) == 4)  # 4 live: 1, 3, 4, 5

    await company.stop_one(hq)  # main's disk is lost; the backup is all it has
    with pytest.raises(UsageError, match="not empty"):
        await ops.restore_directory(office.folder, str(copy))
    restored = tmp_path / "hq2"
    await ops.restore_directory(restored, str(copy))
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in restored.rglob("*") if p.is_file())
    hq2 = await company.start(restored)
    assert set(hq2.peer.numbering.held()) == {office.peer.device, laptop.peer.device}
    waiting = await hq2.peer.create("orders", {"contact": acme})  # during the hold
    assert hq2.peer.get("orders", waiting)["number"].startswith("P-")
    assert (await ops.status(hq2))["health"] == "yellow"

    office.dial(f"127.0.0.1:{hq2.port}")  # main's new address
    await until(lambda: office.peer.store.view(waiting) is not None, 20)
    assert hq2.peer.numbering.held() != []  # the laptop has not synced yet
    late = await laptop.peer.create("orders", {"contact": acme})  # made before it meets main
    laptop.dial(f"127.0.0.1:{hq2.port}")
    await until(lambda: hq2.peer.numbering.held() == [], 20)

    await until(lambda: hq2.peer.get("orders", late)["number"].isdigit(), 20)
    await until(lambda: hq2.peer.get("orders", waiting)["number"].isdigit(), 20)
    for node in (hq2, office, laptop):
        await until(partial(settled, node), 20)
        assert numbers(node) == ["1", "3", "4", "5", "6", "7"]  # unique, and 2 stays deleted
    assert hq2.peer.get("orders", after)["number"] == "4"
    assert hq2.peer.store.view(first[1]) is not None
    assert first[1] not in {o["id"] for o in hq2.peer.list("orders")}  # not back
    config = load_config(restored)
    assert config.device == hq.peer.device  # the same device, with a new store
    assert (restored / "tls" / "cert.pem").is_file()
