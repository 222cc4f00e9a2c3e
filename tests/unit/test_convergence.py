"""Property test: four peers (one main) doing random work converge to what the model predicts.

Hypothesis draws a program of creates, updates, note edits, deletes, offline
orders, conflict-policy check-ins, syncs between random pairs and restarts
from disk. Every step runs on the real peers and on the reference model
(``tests/model.py``); an operation the model says must fail (unknown record,
deleted record, forbidden by the role) must fail on the peer with the
matching error and write nothing. At the end every pair syncs until all
have met, and then:

* all replicas hold identical records and identical conflict logs;
* every field of every live record equals the model's prediction;
* final order numbers are unique and exactly 1..K (no gaps);
* every appended note token survives on live records;
* every open conflict the model predicts lists all competing values.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from roamsync.peer import Peer
from roamsync.schema import PermissionDeniedError, RecordNotFoundError
from roamsync.transport.memory import sync

from conftest import FakeClock
from model import Model

POLICIES = ["central", "local", "latest"]
DEVICES = {"hq": "main", "office-1": "office", "laptop-1": "travel", "laptop-2": "travel"}
NAMES = list(DEVICES)
FIELDS = {"contacts": ["name", "phone", "email"], "orders": ["status", "title"]}
EXAMPLES = int(os.environ.get("ROAMSYNC_EXAMPLES", "150"))

peer_ix = st.integers(0, len(NAMES) - 1)
rec_ix = st.integers(0, 3)  # few records, so concurrent writes meet often
update = st.tuples(st.just("update"), peer_ix, rec_ix, st.sets(st.integers(0, 2), min_size=1))
operation = st.one_of(
    st.tuples(st.just("contact"), peer_ix),
    st.tuples(st.just("order"), peer_ix, rec_ix),
    update,
    update,
    update,
    update,
    st.tuples(st.just("note"), peer_ix, rec_ix),
    st.tuples(st.just("delete"), peer_ix, rec_ix, st.integers(0, 3)),
    st.tuples(st.just("sync"), peer_ix, peer_ix),
    st.tuples(st.just("sync"), peer_ix, peer_ix),
    st.tuples(st.just("restart"), peer_ix),
    st.tuples(st.just("settle"), peer_ix, st.sampled_from(POLICIES)),
)


class World:
    """The real peers and the model, driven step by step in lockstep."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = FakeClock()
        self.model = Model(dict(DEVICES))
        self.peers: dict[str, Peer] = {}
        self.records: list[tuple[str, str]] = []  # (module, id), in creation order
        self.tokens: dict[str, list[str]] = {}
        self.values = 0

    async def open(self, device: str) -> None:
        self.peers[device] = await Peer.open(
            self.root / device, device=device, role=DEVICES[device], clock=self.clock
        )

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()

    def value(self) -> str:
        self.values += 1
        return f"v{self.values}"

    def pick(self, ix: int, module: str | None = None) -> tuple[str, str] | None:
        pool = [r for r in self.records if module is None or r[0] == module]
        return pool[ix % len(pool)] if pool else None

    async def expect_refused(self, device: str, call: Any, error: type[Exception]) -> None:
        """The operation must raise ``error`` and leave the peer's store untouched."""
        before = self.peers[device].last_seq()
        try:
            await call
        except error:
            event(f"refused: {error.__name__}")
        else:
            raise AssertionError(f"{device}: expected {error.__name__}")
        assert self.peers[device].last_seq() == before

    async def run(self, op: tuple[Any, ...]) -> None:
        kind, device = op[0], NAMES[op[1]]
        await getattr(self, f"do_{kind}")(device, *op[2:])

    async def do_contact(self, device: str) -> None:
        values: dict[str, object] = {"name": self.value()}
        record = await self.peers[device].create("contacts", values)
        self.model.create(device, record, "contacts", values)
        self.records.append(("contacts", record))

    async def do_order(self, device: str, ix: int) -> None:
        contact = self.pick(ix, "contacts")
        if contact is None:
            return
        values: dict[str, object] = {"contact": contact[1], "status": self.value()}
        peer = self.peers[device]
        if self.model.view(device, contact[1]) is None:
            await self.expect_refused(device, peer.create("orders", values), RecordNotFoundError)
            return
        record = await peer.create("orders", values)
        self.model.create(device, record, "orders", values)
        self.records.append(("orders", record))

    async def do_update(self, device: str, ix: int, which: set[int]) -> None:
        target = self.pick(ix)
        if target is None:
            return
        module, record = target
        names = FIELDS[module]
        values: dict[str, object] = {names[i % len(names)]: self.value() for i in which}
        await self._change(device, module, record, "edit", values, self.peers[device].update)

    async def do_note(self, device: str, ix: int) -> None:
        target = self.pick(ix)
        if target is None:
            return
        module, record = target
        peer = self.peers[device]
        token = f"[{self.value()}]"
        if self.model.view(device, record) is None or not self.model.may(device, record, "edit"):
            call = peer.update(module, record, {"notes": token})
            error = RecordNotFoundError if self.model.view(device, record) is None else None
            await self.expect_refused(device, call, error or PermissionDeniedError)
            return
        text = peer.get(module, record)["notes"]
        await peer.update(module, record, {"notes": text + token})
        self.tokens.setdefault(record, []).append(token)

    async def do_delete(self, device: str, ix: int, gate: int) -> None:
        target = self.pick(ix)
        if target is None or gate:  # deletes are rarer than edits, or nothing is left to edit
            return
        module, record = target

        async def delete(module: str, record: str, values: object) -> None:
            await self.peers[device].delete(module, record)

        await self._change(device, module, record, "delete", {"_deleted": True}, delete)

    async def _change(
        self,
        device: str,
        module: str,
        record: str,
        op: str,
        values: dict[str, object],
        call: Any,
    ) -> None:
        api_values = {k: v for k, v in values.items() if k != "_deleted"}
        if self.model.view(device, record) is None:
            await self.expect_refused(device, call(module, record, api_values), RecordNotFoundError)
        elif not self.model.may(device, record, op):  # type: ignore[arg-type]
            call_ = call(module, record, api_values)
            await self.expect_refused(device, call_, PermissionDeniedError)
        else:
            await call(module, record, api_values)
            self.model.write(device, record, values)

    async def do_sync(self, device: str, other_ix: int) -> None:
        other = NAMES[other_ix]
        if other != device:
            await sync(self.peers[device], self.peers[other])
            self.model.sync(device, other)

    async def do_restart(self, device: str) -> None:
        await self.peers[device].close()
        await self.open(device)

    async def do_settle(self, device: str, policy: str) -> None:
        await self.peers[device].apply_policy(policy)
        self.model.settle(device, policy)

    async def seed(self) -> None:
        """Some records every peer has, so random edits meet concurrent ones often."""
        for device in ("hq", "hq", "office-1"):
            await self.do_contact(device)
        await self.converge()
        await self.do_order("laptop-1", 0)
        await self.do_order("hq", 1)
        await self.converge()

    async def converge(self) -> None:
        for _ in range(2):
            for a in NAMES:
                for b in NAMES:
                    if a < b:
                        await self.do_sync(a, NAMES.index(b))


def check(world: World) -> None:
    peers = list(world.peers.values())
    first = peers[0]
    for module in FIELDS:
        listed = first.list(module)
        for peer in peers[1:]:
            assert peer.list(module) == listed, f"{peer.device} differs in {module}"
    log = [_comparable(c) for c in first.conflicts()]
    for peer in peers[1:]:
        assert [_comparable(c) for c in peer.conflicts()] == log
    _check_model(world, first)
    _check_numbers(world, first)
    conflicts = first.conflicts()
    renumbered = sum(bool(o["provisional_number"]) for o in first.list("orders"))
    event(f"open conflicts: {min(3, sum(c.status != 'resolved' for c in conflicts))}")
    event(f"settled conflicts: {min(3, sum(c.status == 'resolved' for c in conflicts))}")
    event(f"renumbered orders: {min(3, renumbered)}")


def _comparable(conflict: Any) -> tuple[Any, ...]:
    return (
        conflict.record,
        conflict.field,
        conflict.values,
        conflict.winner,
        conflict.policy,
        conflict.time,
        conflict.resolved_by,
        conflict.status == "resolved",
    )


def _check_model(world: World, peer: Peer) -> None:
    model = world.model
    conflicts = {(c.record, c.field): c for c in peer.conflicts() if c.status != "resolved"}
    for module, record in world.records:
        expected = model.view("hq", record)
        if expected is None:
            assert record not in {r["id"] for r in peer.list(module)}
            continue
        got = peer.get(module, record)
        for name, value in expected.items():
            assert str(got[name]) == str(value), (record, name, got[name], value)
        for token in world.tokens.get(record, []):
            assert token in got["notes"]
        for name in expected:
            hs = model.heads(w for w in model.known("hq", record) if w.field == name)
            if len(hs) > 1:
                listed = {v["value"] for v in conflicts[(record, name)].values}
                assert listed == {h.value for h in hs}


def _check_numbers(world: World, peer: Peer) -> None:
    finals = [
        int(o["number"]) for o in peer.list("orders") if not str(o["number"]).startswith("P-")
    ]
    assert len(finals) == len(set(finals)), "duplicate final order numbers"
    assigned = world.model.counters.get(("hq", "orders"), 0)
    assert set(finals) <= set(range(1, assigned + 1))
    assert peer.store.meta("number:orders") == (str(assigned) if assigned else None)
    for order in peer.list("orders"):
        assert not str(order["number"]).startswith("P-"), "a live order was never numbered"


async def scenario(program: list[tuple[Any, ...]], check_in: list[str | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        for device in NAMES:
            await world.open(device)
        try:
            await world.seed()
            for op in program:
                await world.run(op)
            await world.converge()
            for device, policy in zip(NAMES, check_in, strict=True):
                if policy is not None:  # settle the conflicts the meeting brought up
                    await world.do_settle(device, policy)
            await world.converge()
            check(world)
        finally:
            await world.close()


@pytest.mark.timeout(900)  # many examples; the per-test default is for single scenarios
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(operation, min_size=15, max_size=60),
    st.lists(st.sampled_from([None, *POLICIES]), min_size=4, max_size=4),
)
def test_random_programs_converge_to_the_model(
    program: list[tuple[Any, ...]], check_in: list[str | None]
) -> None:
    asyncio.run(scenario(program, check_in))
