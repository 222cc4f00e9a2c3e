"""Records that arrive new, read beside the replica (``peer/replica/arrival.py``): by a worker
process, sent back as plain tuples, used only while the record is still new."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from test_yjs import real_updates

from roamsync.peer.replica.arrival import (
    READY,
    Plain,
    arrive,
    arrive_all,
    arrive_all_plain,
    from_plain,
)
from roamsync.peer.replica.preparer import Preparer, default_workers
from roamsync.transport.channel import memory_pair
from roamsync.transport.memory import sync
from roamsync.transport.session import Session

from conftest import OpenPeer, until
from fuzzing import mutate


def items_of(updates: list[bytes]) -> list[tuple[str, bytes]]:
    return [(f"r{i}", update) for i, update in enumerate(updates)]


def test_plain_tuples_carry_every_arrival_whole() -> None:
    rng = random.Random(7)
    updates = real_updates()
    mutated = [mutate(rng.choice(updates), rng, updates) for _ in range(300)]
    items = items_of(updates + mutated)
    plains = arrive_all_plain(items, "src")
    assert [from_plain(p) for p in plains] == arrive_all(items, "src")
    assert {a.outcome for a in arrive_all(items, "src")} >= {READY, "malformed"}


@pytest.fixture
def updates() -> list[bytes]:
    """The corpus's updates, built outside the test's event loop (it runs one of its own)."""
    return real_updates()


async def test_the_worker_reads_what_this_process_reads(updates: list[bytes]) -> None:
    items = items_of(updates)
    preparer = Preparer(workers=1, threshold=1)
    try:
        first = preparer.submit(items, "src")
        second = preparer.submit(items[:3], None)  # answered in the order asked
        assert await preparer.result(first) == arrive_all(items, "src")
        assert await preparer.result(second) == arrive_all(items[:3], None)
        assert preparer._proc is not None
        proc = preparer._proc
    finally:
        preparer.close()
    assert proc.poll() == 0  # it ended at the end of its input
    assert preparer.submit(items, "src") is None  # closed: read here
    assert Preparer(workers=0, threshold=1).submit(items, "src") is None
    assert Preparer(workers=1, threshold=100).submit(items[:99], "src") is None


async def test_a_dead_worker_means_reading_here(
    caplog: pytest.LogCaptureFixture, updates: list[bytes]
) -> None:
    items = items_of(updates)
    preparer = Preparer(workers=1, threshold=1)
    try:
        assert await preparer.result(preparer.submit(items, "src")) is not None
        assert preparer._proc is not None
        preparer._proc.kill()
        preparer._proc.wait()
        with caplog.at_level(logging.WARNING):
            assert await preparer.result(preparer.submit(items, "src")) is None
        assert "reading here" in caplog.text
        assert preparer.submit(items, "src") is None  # not tried again
    finally:
        preparer.close()


def ready(plains: list[Plain]) -> asyncio.Future[list[Plain]]:
    future: asyncio.Future[list[Plain]] = asyncio.get_running_loop().create_future()
    future.set_result(plains)
    return future


async def test_an_arrival_read_ahead_is_not_used_once_the_record_exists(
    open_peer: OpenPeer,
) -> None:
    """A batch read while the record was new, applied after it arrived by another way:
    merged with what is here, not stored over it."""
    a, b = await open_peer("a"), await open_peer("b")
    rid = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await b.update("contacts", rid, {"phone": "1"})
    await a.update("contacts", rid, {"email": "post@acme.no"})
    newer = [(rid, a.store.state(rid) or b"")]
    ahead = ready(arrive_all_plain(newer, "a"))  # as if read before b had the record
    result = await b.apply_remote(newer, "a", ahead)
    assert result.changed == 1
    got = b.get("contacts", rid)
    assert (got["phone"], got["email"]) == ("1", "post@acme.no")  # both writes kept


async def test_a_large_sync_goes_through_the_worker_and_converges(open_peer: OpenPeer) -> None:
    a = await open_peer("a", "main")
    b = await open_peer("b", workers=1)
    b.merger.preparer.threshold = 10
    ids = [await a.create("contacts", {"name": f"c{i}"}) for i in range(250)]
    order = await a.create("orders", {"contact": ids[0], "total": "5.00"})
    near, far = memory_pair()
    sa, sb = Session(a, near, company="x", batch=100), Session(b, far, company="x")
    tasks = [asyncio.create_task(sa.run()), asyncio.create_task(sb.run())]
    try:
        await until(lambda: b.count("contacts") == 250 and sb.caught_up(), 60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert b.merger.preparer._proc is not None  # it was used
    assert b.list("contacts") == a.list("contacts")
    assert b.get("orders", order) == a.get("orders", order)


def test_arrive_refuses_what_the_replica_refuses() -> None:
    assert arrive("r", b"\x00\x00", None).outcome == "unchanged"
    assert arrive("r", b"\x05", None).outcome == "malformed"


async def test_many_records_announced_start_the_worker_before_they_come() -> None:
    preparer = Preparer(workers=1, threshold=10)
    try:
        preparer.warm(9)
        assert preparer._thread is None  # few: nothing started
        preparer.warm(10)
        await until(lambda: preparer._proc is not None, 10)
    finally:
        preparer.close()


def test_roamsync_workers_sets_the_number_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROAMSYNC_WORKERS", "0")
    assert default_workers() == 0
    assert not Preparer().enabled
    monkeypatch.setenv("ROAMSYNC_WORKERS", "1")
    assert default_workers() == 1
