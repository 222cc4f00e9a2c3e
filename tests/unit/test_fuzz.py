"""Fuzzing the wire decoder, the update-apply path and a session's receiver (CI-sized).

The harness is ``tests/fuzzing.py``; ``make fuzz`` (``bench/fuzz.py``) runs it for
a million inputs and more. Here Hypothesis drives the same mutators with a
``random.Random`` it controls, derandomized so CI sees the same examples every
run; ``ROAMSYNC_FUZZ_SCALE=N`` multiplies every test's examples by N. The last
section holds the regression tests of the bugs the fuzzing found.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamsync.peer import ApplyResult, Peer
from roamsync.peer.core.priority import DELETED, Write
from roamsync.peer.record import RecordDoc, encode_slot
from roamsync.peer.record.doc import _read
from roamsync.schema import ProtocolError
from roamsync.transport.channel import memory_pair
from roamsync.transport.protocol import HELLO, Changes, Error, Hello, decode, encode
from roamsync.transport.session import Session

from fuzzing import (
    FAMILIES,
    SOURCE,
    ApplyTarget,
    Corpus,
    build_corpus,
    check_decode,
    check_readable,
    fuzz_frame,
    fuzz_update,
    memory_peer,
    run_session,
)

SCALE = int(os.environ.get("ROAMSYNC_FUZZ_SCALE", "1"))
randoms = st.randoms(use_true_random=False)
roles = st.sampled_from(["office", "main", "travel"])


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples * SCALE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@functools.cache
def the_corpus() -> Corpus:
    """Built once; not a fixture, so Hypothesis never prints it with a failing example."""
    return asyncio.run(build_corpus())


@pytest.fixture
def corpus() -> Corpus:
    return the_corpus()


# -- the wire decoder ---------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@fuzz_settings(300)
@given(rng=randoms)
def test_decoder_returns_a_message_or_refuses(family: str, rng: random.Random) -> None:
    corpus = the_corpus()
    check_decode(fuzz_frame(rng, corpus, family))


def test_the_frame_mutators_reach_both_outcomes(corpus: Corpus) -> None:
    """A fuzzer whose frames all fail at the first byte tests nothing: every family but
    pure noise must make frames that decode and frames that are refused."""
    rng = random.Random(1)
    for family in FAMILIES:
        outcomes = [check_decode(fuzz_frame(rng, corpus, family)) for _ in range(500)]
        assert False in outcomes, family
        if family != "random":
            assert True in outcomes, family


# -- the update-apply path ----------------------------------------------------------------

batches = st.lists(st.integers(1, 4), min_size=1, max_size=6)  # sizes of the batches fed


async def fuzz_replica(
    target: ApplyTarget, rng: random.Random, sizes: list[int]
) -> list[ApplyResult]:
    await target.start()
    results = []
    for size in sizes:
        batch = [fuzz_update(rng, target.corpus) for _ in range(size)]
        results.append(await target.feed(batch))
    await target.finish()
    return results


@pytest.mark.parametrize("populated", [False, True], ids=["fresh", "populated"])
@fuzz_settings(150)
@given(rng=randoms, role=roles, sizes=batches)
def test_apply_remote_survives_mutated_updates(
    populated: bool, rng: random.Random, role: str, sizes: list[int]
) -> None:
    """apply_remote never raises; what it does not report changed stays byte for byte;
    the replica stays readable and writable and a later valid sync converges."""
    corpus = the_corpus()
    target = ApplyTarget(corpus, role=role, populated=populated)
    results = asyncio.run(fuzz_replica(target, rng, sizes))
    assert sum(r.changed + r.rejected + r.malformed for r in results) <= sum(sizes)


@fuzz_settings(60)
@given(rng=randoms, role=roles, sizes=batches)
def test_a_fuzzed_sqlite_replica_reopens_unchanged(
    rng: random.Random, role: str, sizes: list[int]
) -> None:
    corpus = the_corpus()
    with tempfile.TemporaryDirectory() as folder:
        target = ApplyTarget(corpus, role=role, populated=True, path=Path(folder) / "fuzz")
        asyncio.run(fuzz_replica(target, rng, sizes))  # finish() reopens and compares


def test_the_update_mutators_reach_every_outcome(corpus: Corpus) -> None:
    """Mutated updates must get past the Yjs decoder often enough to test the rest."""
    target = ApplyTarget(corpus, populated=True)
    rng = random.Random(2)

    async def run() -> None:
        await target.start()
        for _ in range(400):
            await target.feed([fuzz_update(rng, corpus)])
        await target.finish()

    asyncio.run(run())
    assert all(n > 0 for n in target.counts.values()), target.counts


async def views(peer: Peer, ids: list[str]) -> dict[str, bytes | None]:
    return {record_id: peer.store.view(record_id) for record_id in ids}


@fuzz_settings(150)
@given(rng=randoms, size=st.integers(2, 8), mutated=st.floats(0, 1))
def test_one_batch_is_the_same_as_one_item_at_a_time(
    rng: random.Random, size: int, mutated: float
) -> None:
    """Merging is per record: a batch (repeated ids and bad items included) must store what
    applying its items one by one stores."""
    corpus = the_corpus()

    async def run() -> None:
        peers = [memory_peer("fuzz", "office", 4000, lambda: 1.9e9) for _ in range(2)]
        for peer in peers:
            await peer.apply_remote(list(corpus.source.items()), SOURCE)
            await peer.update("contacts", "acme", {"phone": "local"})  # cached, and local
        items = [
            fuzz_update(rng, corpus) if rng.random() < mutated else rng.choice(corpus.updates)
            for _ in range(size)
        ]
        await peers[0].apply_remote(items, SOURCE)
        for item in items:
            await peers[1].apply_remote([item], SOURCE)
        assert await views(peers[0], corpus.ids) == await views(peers[1], corpus.ids)

    asyncio.run(run())


# -- a session's receiver -------------------------------------------------------------------


@fuzz_settings(100)
@given(rng=randoms, count=st.integers(1, 25))
def test_a_session_drops_garbage_frames_and_ends_cleanly(rng: random.Random, count: int) -> None:
    """Garbage frames are dropped or end the session; it never raises, the replica stays
    usable, and a later valid sync still converges."""
    corpus = the_corpus()
    target = ApplyTarget(corpus, populated=True)

    async def run() -> None:
        await target.start()
        frames = [fuzz_frame(rng, corpus) for _ in range(count)]
        read = await run_session(target.peer, frames)
        assert 0 <= read <= count
        await target.finish()

    asyncio.run(run())


# -- regressions: inputs the fuzzing found ----------------------------------------------------


def forged(slots: dict[str, str], module: str = "contacts", t: int = 5 << 16) -> bytes:
    """A well-formed Yjs update of a record whose slots say what the caller wants."""
    rec = RecordDoc.load(1000)
    with rec.doc.transaction():
        rec.init(module, SOURCE, "main", t)
        rec.claim_client(SOURCE, "main")
        for device, slot in slots.items():
            rec.slots[device] = slot
    return rec.encode()


def write(field: str, value: object, t: int = 5 << 16) -> Write:
    return Write(field, SOURCE, "main", t, value)  # type: ignore[arg-type]


async def apply_one(update: bytes) -> tuple[ApplyResult, Peer]:
    peer = memory_peer("fuzz", "office", 4000, lambda: 1.9e9)
    return await peer.apply_remote([("forged", update)], SOURCE), peer


GOOD_SLOT = encode_slot("main", {"name": write("name", "Acme")})
BAD_SLOTS = {
    "not json": "{not json",
    "no role": '{"f": {}}',
    "fields not a map": '{"r": "main", "f": []}',
    "short write": '{"r": "main", "f": {"name": ["Acme", 5]}}',
    "time not an int": '{"r": "main", "f": {"name": ["Acme", "5", {}, null, []]}}',
    "negative time": '{"r": "main", "f": {"name": ["Acme", -1, {}, null, []]}}',
    "list value": '{"r": "main", "f": {"name": [[1], 5, {}, null, []]}}',
    "seen not a map": '{"r": "main", "f": {"name": ["Acme", 5, [], null, []]}}',
    "bad episode": '{"r": "main", "f": {"name": ["Acme", 5, {}, null, [{"f": 1}]]}}',
}


async def test_a_well_formed_forged_record_is_taken() -> None:
    result, peer = await apply_one(forged({SOURCE: GOOD_SLOT}))  # the control
    assert result == ApplyResult(changed=1)
    assert peer.get("contacts", "forged")["name"] == "Acme"


@pytest.mark.parametrize("slot", BAD_SLOTS.values(), ids=BAD_SLOTS)
async def test_a_malformed_slot_is_counted_not_raised(slot: str) -> None:
    """Found first: a bit flip inside a slot's JSON made apply_remote raise
    orjson.JSONDecodeError (or KeyError, ValueError while unpacking) from the commit."""
    result, peer = await apply_one(forged({SOURCE: slot}))
    assert result == ApplyResult(malformed=1)
    assert peer.last_seq() == 0
    check_readable(peer)


async def test_a_money_field_that_is_not_money_is_malformed() -> None:
    """It would store, then make every read of the record raise decimal.InvalidOperation."""
    order = encode_slot("main", {"total": write("total", "12.5x"), "contact": write("c", "a")})
    result, _ = await apply_one(forged({SOURCE: order}, module="orders"))
    assert result == ApplyResult(malformed=1)


async def test_a_delete_at_the_time_of_another_write_resolves() -> None:
    """One device's delete and edit at the same time (only a forged record has it): the
    priority layer used to compare True with a string (TypeError) while ordering the
    conflict's versions; they are now ordered without comparing values of two types."""
    slot = encode_slot("main", {DELETED: write(DELETED, True), "name": write("name", "A")})
    result, peer = await apply_one(forged({SOURCE: slot}))
    assert result == ApplyResult(changed=1)
    assert peer.count("contacts") == 0  # the delete wins
    check_readable(peer)


async def test_an_update_that_starts_past_the_records_clock_is_refused(corpus: Corpus) -> None:
    """A whole record state whose Yjs client run starts at clock 127, not 0 (one varuint
    changed): yrs kept part of it pending, the replica stored it, and once the real state
    arrived the stored bytes reloaded as a record without a module, while its view still
    said "orders"."""
    state = corpus.source["order-lap"]
    assert state.count(b"\x08\xb8\x17\x00") == 1  # 8 structs of client 3000 from clock 0
    gapped = state.replace(b"\x08\xb8\x17\x00", b"\x08\xb8\x17\x7f")
    peer = memory_peer("fuzz", "main", 4000, lambda: 1.9e9)
    assert await peer.apply_remote([("order-lap", gapped)], SOURCE) == ApplyResult(malformed=1)
    assert await peer.apply_remote([("order-lap", state)], SOURCE) == ApplyResult(changed=1)
    check_readable(peer)  # every stored state reloads to the record its view shows


async def test_an_update_reusing_ids_with_other_content_stores_what_it_shows(
    corpus: Corpus,
) -> None:
    """Found by the long run: a record's state with hq's client run renumbered to hq's notes
    lane, then another record's state under this id. Both were taken; yrs showed a merged
    document whose encoding, the stored state, had a slot that did not decode."""
    beta = corpus.source["beta"]
    assert beta.count(b"\xe8\x07\x00") == 1  # the run of hq's client 1000, from clock 0
    renumbered = beta.replace(b"\xe8\x07\x00", b"\xe9\x07\x00")  # 1001: the notes lane
    other = next(update for rid, update in corpus.updates if rid == "order-hq")
    peer = memory_peer("fuzz", "main", 4000, lambda: 1.9e9)
    await peer.apply_remote(list(corpus.source.items()), SOURCE)
    await peer.apply_remote([("beta", renumbered)], SOURCE)
    await peer.apply_remote([("beta", other)], SOURCE)
    check_readable(peer)  # every stored state reloads and decodes to what its view shows


GLUED = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from fuzzing import SOURCE, build_corpus, memory_peer, varuint

async def main():
    corpus = await build_corpus()
    created = next(update for rid, update in corpus.updates if rid == "acme")
    clients, runs, deletes = created[0], created[1:-1], created[-1:]
    assert clients < 128 and deletes == b"\\x00"  # a one-byte count; nothing deleted yet
    glued = varuint(2 * clients) + runs + runs + deletes
    peer = memory_peer("fuzz", "office", 4000, lambda: 1.9e9)
    print(await peer.apply_remote([("acme", glued)], SOURCE))

asyncio.run(main())
"""


def test_an_update_listing_a_client_twice_does_not_crash_the_peer() -> None:
    """A record's state with its client runs written twice (an update glued to itself):
    pycrdt 0.14.13 corrupted its memory on it and the next read killed the process with
    SIGSEGV. Run in a child process, so that a crash fails this test, not the suite."""
    tests = str(Path(__file__).parent.parent)  # tests/, where fuzzing.py is
    run = subprocess.run(
        [sys.executable, "-c", GLUED, tests], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "malformed=1" in run.stdout


def test_a_pycrdt_panic_is_caught_but_nothing_else() -> None:
    """pyo3's PanicException derives from BaseException: it alone becomes a ValueError, with
    pycrdt's RuntimeError; both came out of apply_remote before (fuzzing found an
    "index out of bounds" panic and "block parent must be deleted or shared ref type")."""

    class Raising:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def __str__(self) -> str:
            raise self.exc

    panic = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})
    with pytest.raises(ValueError, match="panicked"):
        _read(Raising(panic("index out of bounds")))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failed"):  # pycrdt: "Cannot apply update: ..."
        _read(Raising(RuntimeError("block parent must be a shared type")))  # type: ignore[arg-type]
    for exc in (KeyboardInterrupt(), SystemExit(1), asyncio.CancelledError()):
        with pytest.raises(type(exc)):
            _read(Raising(exc))  # type: ignore[arg-type]


async def test_a_record_twice_in_one_batch_keeps_both_updates(corpus: Corpus) -> None:
    """The second item merged into the stored record, not into the first item's result: the
    last one won, an older state could replace a newer one, and a cached record evicted
    by a bad first item was taken for a new one and overwritten."""
    newest = corpus.source["acme"]
    oldest = next(u for rid, u in corpus.updates if rid == "acme")
    assert oldest != newest
    reference = memory_peer("ref", "office", 4000, lambda: 1.9e9)
    await reference.apply_remote([("acme", newest)], SOURCE)
    peer = memory_peer("fuzz", "office", 4000, lambda: 1.9e9)
    result = await peer.apply_remote([("acme", newest), ("acme", oldest)], SOURCE)
    assert result == ApplyResult(changed=1)
    assert peer.store.view("acme") == reference.store.view("acme")
    await peer.update("contacts", "acme", {"phone": "local"})  # now cached, with a local edit
    before = peer.store.view("acme")
    broken = forged({SOURCE: "{not json"})  # merges, then fails the check: evicted
    await peer.apply_remote([("acme", broken), ("acme", oldest)], SOURCE)
    assert peer.store.view("acme") == before


def test_a_hello_version_beyond_64_bits_is_refused() -> None:
    """decode took it, then encode could not write it back (orjson: TypeError)."""
    body = b'{"device": "d", "role": "office", "company": "", "versions": [18446744073709551616]}'
    with pytest.raises(ProtocolError, match="version out of range"):
        decode(bytes([HELLO]) + body)
    assert decode(encode(Hello("d", "office", "", (2**63 - 1,)))) == Hello(
        "d", "office", "", (2**63 - 1,)
    )


async def test_a_session_ends_after_changes_then_an_error(corpus: Corpus) -> None:
    """Applying the changes wakes the sender as the session cancels it; Python 3.11's
    asyncio.wait_for swallowed that cancellation and the session hung until the
    anti-entropy timer (here an hour)."""
    peer = memory_peer("fuzz", "office", 4000, lambda: 1.9e9)
    near, far = memory_pair()
    session = Session(peer, near, company="acme", anti_entropy=3600)
    task = asyncio.ensure_future(session.run())
    try:
        await far.send(encode(Hello(SOURCE, "main", "acme")))
        await asyncio.wait_for(session.ready.wait(), 5)
        await far.send(encode(Changes(1, (("acme", corpus.source["acme"]),))))
        await far.send(encode(Error("bye")))
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the session did not end"
        assert peer.get("contacts", "acme")["name"] == "Acme AS"
    finally:
        task.cancel()
