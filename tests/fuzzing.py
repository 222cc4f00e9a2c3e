"""The fuzzing harness shared by ``tests/unit/test_fuzz.py`` (Hypothesis, CI-sized) and
``bench/fuzz.py`` (the long run of a million inputs and more).

Three parts:

* a **corpus** of realistic roamsync data, made by real peers (contacts, a
  delete, orders with note text, a travel device's provisional order, a
  resolved conflict, a delete against a concurrent edit), with fixed Yjs client
  ids, record ids and clock, so it is the same bytes on every run;
* **mutators** driven by a ``random.Random``: Hypothesis hands in one it
  controls (and shrinks), the long run a seeded one;
* **targets** that feed one input and check the properties: the decoder
  returns a message or raises ``ProtocolError``; ``Peer.apply_remote`` never
  raises, leaves the store byte for byte as it was unless it reports a change,
  and the replica stays readable and still converges with a later valid sync;
  a ``Session`` fed garbage frames drops them or closes, and never raises.

A failed property raises ``AssertionError``; anything else escaping a target
is a bug in the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pycrdt import Doc

from roamsync.peer import ApplyResult, Peer
from roamsync.peer.record import RecordDoc
from roamsync.peer.store import STORE_FILE, MemoryStore, SqliteStore, Store
from roamsync.schema import MODULES, ProtocolError, RoamsyncError
from roamsync.transport.channel import memory_pair
from roamsync.transport.memory import sync
from roamsync.transport.protocol import (
    ACK,
    CHANGES,
    ERROR,
    HELLO,
    MAX_FRAME,
    MAX_ID,
    MAX_ITEMS,
    PENDING,
    Ack,
    Changes,
    Error,
    Hello,
    Message,
    Pending,
    decode,
    encode,
)
from roamsync.transport.session import Session

MESSAGES = (Hello, Changes, Ack, Error, Pending)
SOURCE = "hq"  # the device the fuzzed updates claim to come from
COMPANY = "acme"
INTERESTING = (
    *(0, 1, 0x7F, 0x80, 0xFF, 0x3FFF, 0x4000, 2**16, 2**31 - 1, 2**32, 2**53),
    *(2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**70 - 1, MAX_ID, MAX_ID + 1),
    *(MAX_ITEMS, MAX_ITEMS + 1, MAX_FRAME, MAX_FRAME + 1),
)


def varuint(n: int) -> bytes:
    """A varuint, written independently of the codec under test."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# -- the corpus ------------------------------------------------------------------------


class _Clock:
    """Wall time that moves 1 ms per reading: the corpus is the same on every run."""

    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> float:
        self.ms += 1
        return self.ms / 1000


def memory_peer(device: str, role: str, client_id: int, clock: Callable[[], float]) -> Peer:
    """A peer in memory with a fixed Yjs client id (so its updates are reproducible)."""
    store = MemoryStore(metadata={"device": device, "role": role, "client_id": str(client_id)})
    return Peer(store, device, role, clock=clock)


@dataclass(frozen=True)
class Corpus:
    """Valid inputs to mutate, and the source replica's records to check convergence."""

    source: dict[str, bytes]  # the main replica's full state of every record
    updates: list[tuple[str, bytes]]  # (record id, valid Yjs update): states and diffs
    frames: list[bytes]  # valid frames of every message type

    @property
    def ids(self) -> list[str]:
        return sorted(self.source)


async def build_corpus() -> Corpus:
    clock = _Clock()
    hq = memory_peer(SOURCE, "main", 1000, clock)
    office = memory_peer("kontor", "office", 2000, clock)
    lap = memory_peer("lap-1", "travel", 3000, clock)
    updates: list[tuple[str, bytes]] = []
    recorder = _DiffRecorder(updates)
    acme = await hq.create("contacts", {"name": "Acme AS", "phone": "1"}, record_id="acme")
    recorder.snap(hq, acme)
    await hq.update("contacts", acme, {"email": "post@acme.no", "customer": True})
    recorder.snap(hq, acme)
    gone = await hq.create("contacts", {"name": "Gone AS"}, record_id="gone")
    await hq.delete("contacts", gone)
    order = await hq.create(
        "orders",
        {"contact": acme, "total": "120.00", "order_date": "2027-01-05", "notes": "first\nline"},
        record_id="order-hq",
    )
    recorder.snap(hq, order)
    await hq.update("orders", order, {"notes": "first edited\nline ø 😀", "status": "open"})
    recorder.snap(hq, order)
    beta = await hq.create("contacts", {"name": "Beta AS"}, record_id="beta")
    await sync(hq, office)
    await sync(hq, lap)
    mine = await lap.create(
        "orders",
        {"contact": acme, "total": "9.50", "notes": "from the road"},
        record_id="order-lap",
    )
    recorder.snap(lap, mine)
    await lap.update("orders", mine, {"notes": "from the road, edited"})
    recorder.snap(lap, mine)
    await lap.update("contacts", acme, {"phone": "lap"})  # concurrent with office's edit
    await office.update("contacts", acme, {"phone": "office"})
    await office.delete("contacts", beta)  # concurrent with lap's edit of it
    await lap.update("contacts", beta, {"phone": "from the road"})
    for a, b in [(lap, hq), (office, hq), (lap, hq), (office, hq)]:
        await sync(a, b)
    await office.resolve("contacts", acme, "phone", pick=0)
    await sync(office, hq)
    recorder.snap(hq, acme)
    recorder.snap(hq, order)
    for peer in (hq, office, lap):
        updates.extend((rid, state) for _, rid, state in peer.changes(0, 1000))
    source = {rid: state for _, rid, state in hq.changes(0, 1000)}
    frames = _valid_frames(updates)
    for peer in (hq, office, lap):
        await peer.close()
    return Corpus(source, updates, frames)


class _DiffRecorder:
    """Collects a record's states as it changes, and the Yjs update between two of them."""

    def __init__(self, out: list[tuple[str, bytes]]) -> None:
        self.out = out
        self.last: dict[str, bytes] = {}

    def snap(self, peer: Peer, record_id: str) -> None:
        state = peer.store.state(record_id)
        assert state is not None
        old = self.last.get(record_id)
        if old is not None:
            before: Doc[Any] = Doc()
            before.apply_update(old)
            after: Doc[Any] = Doc()
            after.apply_update(state)
            self.out.append((record_id, after.get_update(before.get_state())))
        self.out.append((record_id, state))  # an older full state, too
        self.last[record_id] = state


def _valid_frames(updates: list[tuple[str, bytes]]) -> list[bytes]:
    messages: list[Message] = [
        Hello(SOURCE, "main", COMPANY),
        Hello("lap-1", "travel", COMPANY, (1, 2)),
        Changes(0, ()),
        Changes(7, tuple(updates[:3])),
        Changes(2**40, tuple(updates)),
        Ack(3),
        Ack(2**35),
        Pending(0),
        Pending(12),
        Error("store full"),
    ]
    return [encode(m) for m in messages]


# -- mutators ----------------------------------------------------------------------------

Op = Callable[[bytearray, random.Random, Sequence[bytes]], None]


def _pos(data: bytearray, rng: random.Random, end: bool = False) -> int:
    return rng.randrange(len(data) + 1) if end or not data else rng.randrange(len(data))


def _flip(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    for _ in range(rng.randint(1, 4)):
        if data:
            data[_pos(data, rng)] ^= 1 << rng.randrange(8)


def _set_byte(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    if data:
        data[_pos(data, rng)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))


def _insert(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    at = _pos(data, rng, end=True)
    data[at:at] = rng.randbytes(rng.randint(1, 16))


def _delete(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    at = _pos(data, rng)
    del data[at : at + rng.randint(1, 16)]


def _truncate(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    del data[_pos(data, rng, end=True) :]


def _duplicate(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    at = _pos(data, rng)
    chunk = data[at : at + rng.randint(1, 32)]
    to = _pos(data, rng, end=True)
    data[to:to] = chunk


def _varuint(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    """Replace the varuint starting at a random byte: a length, count or clock changed."""
    at = _pos(data, rng)
    end = at
    while end < len(data) and data[end] & 0x80:
        end += 1
    new = varuint(rng.choice(INTERESTING))
    if rng.random() < 0.2:
        new = b"\x80" * rng.randint(1, 12) + b"\x00"  # overlong, or longer than 64 bits
    data[at : end + 1] = new


def _splice(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    other = rng.choice(others)
    data[_pos(data, rng, end=True) :] = other[rng.randrange(len(other) + 1) :]


def _concat(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    data += rng.choice(others)


OPS: tuple[Op, ...] = (
    _flip,
    _set_byte,
    _insert,
    _delete,
    _truncate,
    _duplicate,
    _varuint,
    _splice,
    _concat,
)


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes], max_ops: int = 4) -> bytes:
    """``data`` after 1..max_ops random byte-level mutations (``others`` feed splicing)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, max_ops)):
        rng.choice(OPS)(out, rng, others)
    return bytes(out)


def fuzz_update(rng: random.Random, corpus: Corpus) -> tuple[str, bytes]:
    """One (record id, update) item: mostly a mutated valid update, sometimes valid or junk."""
    record_id, update = rng.choice(corpus.updates)
    roll = rng.random()
    if roll < 0.1:
        return record_id, update  # valid: the replica must take it
    if roll < 0.15:
        return record_id, b""
    if roll < 0.2:
        return record_id, rng.randbytes(rng.randint(1, 400))
    if roll < 0.3:  # a valid update under another record's id, or a new one
        return rng.choice([*corpus.ids, "new-record"]), update
    ops = rng.choice((1, 1, 2, 4))  # one small change often gets past the Yjs decoder
    return record_id, mutate(update, rng, [u for _, u in corpus.updates], ops)


# -- frames --------------------------------------------------------------------------------


def _random_frame(rng: random.Random, corpus: Corpus) -> bytes:
    return rng.randbytes(rng.randint(0, 64))


def _typed_frame(rng: random.Random, corpus: Corpus) -> bytes:
    kind = rng.choice((HELLO, CHANGES, ACK, ERROR, PENDING, 0, 6, 0xFF))
    return bytes([kind]) + rng.randbytes(rng.randint(0, 64))


def _mutated_frame(rng: random.Random, corpus: Corpus) -> bytes:
    return mutate(rng.choice(corpus.frames), rng, corpus.frames)


def _counter_frame(rng: random.Random, corpus: Corpus) -> bytes:
    kind = rng.choice((ACK, PENDING))
    tail = rng.choice((b"", b"\x00", rng.randbytes(3)))
    return bytes([kind]) + _field(rng, rng.choice(INTERESTING)) + tail


FrameMaker = Callable[[random.Random, Corpus], bytes]
FAMILIES: dict[str, tuple[float, FrameMaker]] = {  # name: (share of fuzz_frame's mix, maker)
    "random": (0.1, _random_frame),
    "typed": (0.1, _typed_frame),
    "mutated": (0.3, _mutated_frame),
    "changes": (0.3, lambda rng, corpus: _tampered_changes(rng, corpus)),
    "hello": (0.1, lambda rng, corpus: _tampered_hello(rng)),
    "counter": (0.1, _counter_frame),
}


def fuzz_frame(rng: random.Random, corpus: Corpus, family: str | None = None) -> bytes:
    """One frame of ``family`` (default: any, in the FAMILIES mix): random bytes, a mutated
    valid frame, or a frame built field by field with some fields wrong."""
    if family is None:
        shares = [share for share, _ in FAMILIES.values()]
        family = rng.choices(list(FAMILIES), shares)[0]
    return FAMILIES[family][1](rng, corpus)


def _field(rng: random.Random, value: int) -> bytes:
    if rng.random() < 0.1:
        return b"\x80" * rng.randint(1, 12) + b"\x01"  # overlong, or beyond 64 bits
    return varuint(value)


def _tampered_changes(rng: random.Random, corpus: Corpus) -> bytes:
    """A Changes frame built field by field, one or two of its fields made wrong."""
    items = [rng.choice(corpus.updates) for _ in range(rng.randint(0, 4))]
    if items and rng.random() < 0.5:
        mutated = fuzz_update(rng, corpus)[1]  # drawn before the index: seeds replay
        k = rng.randrange(len(items))
        items[k] = (items[k][0], mutated)
    ids: list[bytes] = [record_id.encode() for record_id, _ in items]
    body: list[bytes] = [update for _, update in items]
    count, upto = len(items), rng.choice((0, 1, 99, 2**40))
    id_len = [len(i) for i in ids]
    body_len = [len(b) for b in body]
    for _ in range(rng.randint(1, 2)):
        what = rng.randrange(7)
        if what == 0:
            upto = rng.choice(INTERESTING)
        elif what == 1:
            count = rng.choice((*INTERESTING, count + 1, max(count - 1, 0)))
        elif what == 2 and items:
            k = rng.randrange(len(items))
            id_len[k] = rng.choice((*INTERESTING, id_len[k] + 1, max(id_len[k] - 1, 0)))
        elif what == 3 and items:
            k = rng.randrange(len(items))
            body_len[k] = rng.choice((*INTERESTING, body_len[k] + 1, max(body_len[k] - 1, 0)))
        elif what == 4 and items:
            k = rng.randrange(len(items))
            ids[k] = rng.choice((b"", b"x" * (MAX_ID + 1), "é".encode(), rng.randbytes(8)))
            id_len[k] = len(ids[k])
        elif what == 5 and items:  # the same record twice in one frame
            k = rng.randrange(len(items))
            for seq in (ids, body, id_len, body_len):
                seq.append(seq[k])  # type: ignore[arg-type]
            count += 1
    out = bytearray([CHANGES]) + _field(rng, upto) + _field(rng, count)
    for i, b, il, bl in zip(ids, body, id_len, body_len, strict=True):
        out += varuint(il) + i + varuint(bl) + b
    if rng.random() < 0.1:
        out += rng.randbytes(rng.randint(1, 8))
    return bytes(out)


JSON_JUNK: tuple[object, ...] = (
    None,
    0,
    -1,
    2**64,
    1.5,
    1e308,
    "",
    "x" * 300,
    "\u0000\ud7ff\uffff",
    [],
    [1],
    {},
    {"a": [1, {"b": None}]},
    True,
)


def _tampered_hello(rng: random.Random) -> bytes:
    obj: dict[str, object] = {
        "device": "lap-1",
        "role": "travel",
        "company": COMPANY,
        "versions": [1],
    }
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(("device", "role", "company", "versions", "extra"))
        if rng.random() < 0.3:
            obj.pop(key, None)
        elif key == "versions" and rng.random() < 0.5:
            obj[key] = [rng.choice((1, 0, -1, 2**63, 2**64, "1", True, None, 1.9, [1]))]
        else:
            obj[key] = rng.choice(JSON_JUNK)
    text = json.dumps(obj).encode()  # the stdlib writes what orjson refuses (2**64)
    if rng.random() < 0.3:
        text = mutate(text, rng, [text])
    if rng.random() < 0.05:
        text = b"[" * 2000 + text + b"]" * 2000
    return bytes([HELLO]) + text


def check_decode(frame: bytes) -> bool:
    """The codec's contract: a message that encodes back, or ``ProtocolError``. Whether it
    decoded."""
    try:
        msg = decode(frame)
    except ProtocolError:
        return False
    assert isinstance(msg, MESSAGES), f"decode returned {msg!r}"
    assert decode(encode(msg)) == msg, f"{msg!r} does not survive a round trip"
    return True


# -- the apply path ----------------------------------------------------------------------


def snapshot(store: Store) -> list[tuple[int, str, bytes]]:
    """Every stored record with its change-feed position: any write changes it."""
    return store.changes(0, 1_000_000)


@dataclass
class ApplyTarget:
    """One replica fed fuzzed updates: fresh (empty) or populated with the source's records.

    ``path`` puts it in SQLite there, so :meth:`finish` can also reopen the store.
    """

    corpus: Corpus
    role: str = "office"
    populated: bool = False
    path: Path | None = None
    peer: Peer = field(init=False)
    clock: _Clock = field(default_factory=_Clock)
    baseline: dict[str, bytes] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: dict(changed=0, rejected=0, malformed=0, unchanged=0)
    )

    async def start(self) -> None:
        identity = {"device": "fuzz", "role": self.role, "client_id": "4000"}
        store: Store = MemoryStore(metadata=identity)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            store = SqliteStore(self.path / STORE_FILE)
            store.save([], identity)
        self.peer = Peer(store, "fuzz", self.role, clock=self.clock)
        if self.populated:
            result = await self.peer.apply_remote(list(self.corpus.source.items()), SOURCE)
            assert result == ApplyResult(changed=len(self.corpus.source)), result
        self.baseline = {rid: state for _, rid, state in snapshot(self.peer.store)}

    async def feed(self, items: Sequence[tuple[str, bytes]]) -> ApplyResult:
        """Apply one batch; what was not reported changed must be exactly as before."""
        before = {rid: (seq, state) for seq, rid, state in snapshot(self.peer.store)}
        result = await self.peer.apply_remote(items, source=SOURCE)
        total = result.changed + result.rejected + result.malformed
        assert total <= len(items), f"{result} for {len(items)} items"
        self.counts["changed"] += result.changed
        self.counts["rejected"] += result.rejected
        self.counts["malformed"] += result.malformed
        self.counts["unchanged"] += len(items) - total
        after = {rid: (seq, state) for seq, rid, state in snapshot(self.peer.store)}
        if result.changed == 0:
            assert after == before, "apply_remote changed the store but reported no change"
        else:
            moved = {rid for rid, row in after.items() if before.get(rid) != row}
            assert moved <= {rid for rid, _ in items}, f"records outside the batch: {moved}"
            check_readable(self.peer)
        return result

    def touched(self) -> set[str]:
        """Records whose stored state is no longer the one it started with."""
        now = {rid: state for _, rid, state in snapshot(self.peer.store)}
        return {rid for rid, state in now.items() if self.baseline.get(rid) != state}

    async def finish(self) -> None:
        """The replica still works: readable, writable, reopens (SQLite) and converges."""
        check_readable(self.peer)
        touched = self.touched()
        if self.path is not None:
            views = {rid: self.peer.store.view(rid) for rid in self.baseline.keys() | touched}
            await self.peer.close()
            self.peer = await Peer.open(self.path, device="fuzz", role=self.role, clock=self.clock)
            assert {rid: self.peer.store.view(rid) for rid in views} == views, "reopen differs"
        await check_converges(self.peer, self.corpus, touched)
        await self.peer.create("contacts", {"name": "after the fuzz"})
        await self.peer.close()


def check_readable(peer: Peer) -> None:
    """Every read of the public API works, and every stored state is a well-formed record."""
    for module in MODULES:
        for view in peer.list(module):
            assert peer.get(module, view["id"]) == view
        assert peer.count(module) == len(peer.list(module))
    peer.conflicts()
    peer.rejections()
    for _, record_id, state in snapshot(peer.store):
        rec = RecordDoc.load(peer.client_id, state)
        rec.check()
        stored_module = peer.module_of(record_id)
        assert stored_module == rec.module, f"{record_id}: {stored_module} vs {rec.module}"


async def check_converges(peer: Peer, corpus: Corpus, touched: set[str]) -> None:
    """A later, valid sync from the source brings every record the fuzz left alone up to
    date, along with new changes made there."""
    clock = _Clock()
    clock.ms += 10**7  # the source's new edits come after everything in the corpus (< a day)
    source = memory_peer(SOURCE, "main", 1000, clock)
    await source.apply_remote(list(corpus.source.items()))
    await source.update("contacts", "acme", {"phone": "after", "notes": "synced later"})
    new = await source.create("contacts", {"name": "New AS"}, record_id="fresh-after")
    await sync(source, peer)
    for record_id in [*corpus.ids, new]:
        if record_id in touched:
            continue  # a mutated update the replica took as a valid change
        mine, theirs = peer.store.view(record_id), source.store.view(record_id)
        assert theirs is not None
        assert mine is not None, record_id
        assert orjson.loads(mine) == orjson.loads(theirs), record_id
    await sync(source, peer)  # and back: whatever the replica took, the source copes
    check_readable(source)
    check_readable(peer)
    await source.close()


# -- the session ---------------------------------------------------------------------------


async def run_session(peer: Peer, frames: Sequence[bytes], limit: float = 10.0) -> int:
    """Feed frames to a Session after a valid hello, then hang up; how many frames it read
    before it ended (it may close early: an Error frame, too many bad ones). It must not
    raise."""
    near, far = memory_pair(maxsize=len(frames) + 16)
    session = Session(peer, near, company=COMPANY, anti_entropy=3600)
    task = asyncio.ensure_future(session.run())
    drain = asyncio.ensure_future(_drain(far.recv))
    try:
        await far.send(encode(Hello(SOURCE, "main", COMPANY)))
        for frame in frames:
            await far.send(frame)
        await far.close()
        done, _ = await asyncio.wait([task], timeout=limit)
        assert done, f"the session did not end within {limit} s of the channel closing"
        task.result()  # any exception here escaped the session
    finally:
        for job in (task, drain):
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError, RoamsyncError):
                await job
    return session.stats.frames_in - 1  # the hello is not a fuzzed frame


async def _drain(recv: Callable[[], Awaitable[bytes]]) -> None:
    """Read (and drop) what the session sends, so it never waits on a full channel."""
    while True:
        await recv()
