"""Clocks cannot be poisoned: a write dated in the far future (up to 2**64 - 1) leaves
every replica able to write, and does not win later conflicts for ever.

The rule (README, "Time"): a replica refuses a record whose writes are dated more
than a day ahead of its own clock (recorded as a rejection; the record comes
again with its next change, when it may be due); its clock never moves more than
a day ahead of its wall clock, whatever it observes or finds stored; and a write
supersedes another only if it had seen it and was not dated more than a day
before it, so a forged version vector cannot claim writes from the future.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from roamsync.peer import Peer
from roamsync.peer.core.clock import AHEAD, SHIFT, HybridClock
from roamsync.peer.core.priority import Write, heads, supersedes
from roamsync.peer.store.meta import Meta
from roamsync.transport.memory import sync

from conftest import FakeClock, OpenPeer

NOW = 1_800_000_000.0
HLC_NOW = int(NOW * 1000) << SHIFT
TOP = 2**63 - 1  # the largest time a slot may carry


def test_the_clock_never_runs_more_than_a_day_ahead() -> None:
    clock = HybridClock(wall=lambda: NOW)
    clock.observe(TOP)
    t = clock.now()
    assert HLC_NOW < t <= HLC_NOW + AHEAD + 1
    poisoned = HybridClock(last=TOP, wall=lambda: NOW)  # as a store written before this rule
    assert poisoned.now() <= HLC_NOW + AHEAD + 1


def test_a_version_vector_cannot_claim_the_future() -> None:
    main = Write("price", "main", "main", HLC_NOW + 10 * AHEAD, "100")
    forged = Write("price", "mallory", "travel", HLC_NOW, "0.01", seen={"main": TOP})
    assert not supersedes(forged, main)
    assert heads([main, forged]) == [main, forged]  # a conflict, which main wins
    honest = Write("price", "office", "office", HLC_NOW, "90", seen={"main": HLC_NOW - 5})
    earlier = Write("price", "main", "main", HLC_NOW - 5, "100")
    assert supersedes(honest, earlier)


async def future_write(folder: Path, t: int) -> tuple[Peer, str]:
    """A travel device whose writes carry time ``t`` (its clock forced there)."""
    peer = await Peer.open(folder, device="mallory", role="travel", clock=lambda: NOW)
    peer.clock.last = t - 1  # the next write is dated t
    peer.clock.wall = lambda: NOW
    peer.clock.ceiling = lambda: TOP  # type: ignore[method-assign]  # the attacker's own copy
    record = await peer.create("contacts", {"name": "Future AS"})
    return peer, record


async def test_a_write_dated_at_the_top_is_refused_and_main_keeps_writing(
    open_peer: OpenPeer, tmp_path: Path
) -> None:
    main = await open_peer("hq", "main")
    own = await main.create("contacts", {"name": "Acme"})
    mallory, record = await future_write(tmp_path / "mallory", TOP)
    try:
        await sync(mallory, main)
    finally:
        await mallory.close()
    assert main.store.view(record) is None
    [rejection] = main.rejections()
    assert "ahead" in rejection.reason
    await main.update("contacts", own, {"phone": "1"})  # the clock still works
    assert main.clock.last < HLC_NOW + 2 * AHEAD
    assert main.get("contacts", own)["phone"] == "1"


async def test_a_time_past_64_bits_is_malformed_not_fatal(open_peer: OpenPeer) -> None:
    main = await open_peer("hq", "main")
    office = await open_peer("office", "office")
    record = await office.create("contacts", {"name": "Acme"})
    doc = office.records.doc(record)
    assert doc is not None
    slot = orjson.loads(doc.slots["office"])
    for entry in slot["f"].values():
        entry[1] = 2**64 - 1  # the time of every write
    with doc.doc.transaction():
        doc.slots["office"] = orjson.dumps(slot).decode()
    result = await main.apply_remote([(record, doc.doc.get_update())], "office")
    assert result.malformed == 1
    assert main.store.view(record) is None
    await main.create("contacts", {"name": "Still writing"})


async def test_a_store_poisoned_before_the_upgrade_writes_again(tmp_path: Path) -> None:
    folder = tmp_path / "hq"
    async with await Peer.open(folder, device="hq", role="main", clock=FakeClock(NOW)) as peer:
        peer.store.save([], Meta.hlc_entry(TOP))
    async with await Peer.open(folder, device="hq", role="main", clock=FakeClock(NOW)) as peer:
        record = await peer.create("contacts", {"name": "Acme"})
        assert peer.get("contacts", record)["name"] == "Acme"


async def test_a_day_ahead_at_most_is_accepted(open_peer: OpenPeer, tmp_path: Path) -> None:
    """A device whose clock is wrong by less than a day still syncs (chaos skews by 2 min)."""
    main = await open_peer("hq", "main", clock=lambda: NOW)
    fast = await Peer.open(
        tmp_path / "fast", device="fast", role="office", clock=lambda: NOW + 3600
    )
    try:
        record = await fast.create("contacts", {"name": "Fast AS"})
        await sync(fast, main)
    finally:
        await fast.close()
    assert main.get("contacts", record)["name"] == "Fast AS"
    assert main.rejections() == []
