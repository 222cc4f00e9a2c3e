"""``read_fresh`` (``peer/record/yjs.py``) reads records as created without pycrdt: wherever it
answers, its answer must be pycrdt's, and the structural check must accept the update.

``bench/yjs_equivalence.py --fresh`` runs the same comparison over millions of inputs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from test_yjs import examples, randoms, real_updates

from roamsync.peer import Peer
from roamsync.peer.record import RecordSnapshot
from roamsync.peer.record.yjs import read_fresh

from fuzzing import mutate
from yjs_fresh import accepted_by_check_update, fresh_update, pycrdt_reading


def assert_as_pycrdt(update: bytes) -> bool:
    """Whether ``read_fresh`` read ``update``; if it did, it read what pycrdt reads."""
    fresh = read_fresh(update)
    if fresh is None:
        return False
    assert accepted_by_check_update(update), update.hex()
    assert fresh == pycrdt_reading(update), update.hex()
    return True


def test_seeded_updates_read_as_pycrdt_reads_them() -> None:
    rng = random.Random(20261125)
    read = sum(assert_as_pycrdt(fresh_update(rng)) for _ in range(4000))
    assert 1000 < read < 3900  # both ways are common: the comparison means something


@examples(500)  # bench/yjs_equivalence.py --fresh runs millions
@given(rng=randoms)
def test_built_and_mutated_updates(rng: random.Random) -> None:
    update = fresh_update(rng)
    assert_as_pycrdt(update)
    assert_as_pycrdt(mutate(update, rng, [fresh_update(rng)], rng.choice((1, 2))))


@examples(1500)
@given(rng=randoms)
def test_mutated_real_updates(rng: random.Random) -> None:
    updates = real_updates()
    assert_as_pycrdt(mutate(rng.choice(updates), rng, updates, rng.choice((1, 2, 4))))


def test_every_real_update_reads_as_pycrdt_reads_it() -> None:
    assert any([assert_as_pycrdt(update) for update in real_updates()])


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 2.0**53 + 2, 2.0**63 - 1024, -(2.0**63) + 1024, 117678669670973440.0],
)
def test_whole_floats_read_as_ints(value: float) -> None:
    import struct

    update = bytes([1, 2, 7, 0, 0x28, 1, 4]) + b"meta" + bytes([1]) + b"t" + bytes([1, 123])
    update += struct.pack(">d", value)
    update += bytes([0x28, 1, 5]) + b"slots" + bytes([1]) + b"d" + bytes([1, 119, 0, 0])
    assert assert_as_pycrdt(update)
    meta, _, _ = read_fresh(update) or ({}, {}, {})
    assert meta["t"] == int(value)
    assert type(meta["t"]) is int


async def test_records_as_peers_write_them_read_as_pycrdt_reads_them(tmp_path: Path) -> None:
    """Created, edited again and again, deleted: read here; with note text: by pycrdt."""
    async with await Peer.open(tmp_path / "p", "dev", "main") as peer:
        rid = await peer.create("contacts", {"name": "Acme", "email": "a@b.no"})
        states = [peer.store.state(rid)]
        for n in range(3):
            await peer.update("contacts", rid, {"name": f"Acme {n}", "phone": str(n)})
            states.append(peer.store.state(rid))
        order = await peer.create("orders", {"contact": rid, "total": "5.00", "notes": "hei"})
        noted = peer.store.state(order)
        await peer.delete("contacts", rid)
        states.append(peer.store.state(rid))
    assert all(state is not None and assert_as_pycrdt(state) for state in states)
    assert noted is not None
    assert read_fresh(noted) is None  # note text: pycrdt reads it
    assert RecordSnapshot(states[3] or b"").resolved().values["name"] == "Acme 2"
