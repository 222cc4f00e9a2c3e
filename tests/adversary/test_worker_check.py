"""The signed writes of an initial sync are checked by the worker process and the replica
together (every second record each); a record whose signature was tampered with is
refused whichever checks it, and recorded; the rest are taken."""

from __future__ import annotations

import pickle

import pytest

from roamsync.peer import Peer
from roamsync.peer.org import registry
from roamsync.peer.record.signing import KeySet
from roamsync.peer.replica import merge

from conftest import Company, loop_turns, until


def tampered(state: bytes) -> bytes:
    """The state with one character of its slot's signature changed (same length)."""
    at = state.index(b"\x1e") + 12
    flipped = b"A" if state[at : at + 1] != b"A" else b"B"
    return state[:at] + flipped + state[at + 1 :]


async def test_a_tampered_signature_is_refused_by_either_process(company: Company) -> None:
    hq = await company.main()
    ids = [await hq.peer.create("contacts", {"name": f"c{i}"}) for i in range(150)]
    office = await company.add(hq, "office")
    await until(lambda: office.peer.count("contacts") == 150)
    items = [(rid, office.peer.store.state(rid) or b"") for rid in ids]
    for i in (6, 7):  # one the worker checks, one the replica checks
        items[i] = (items[i][0], tampered(items[i][1]))
    target = await Peer.open(company.root / "fresh", device="fresh", role="office", workers=1)
    try:
        keys = registry.RegistryKeys(office.peer, hq.peer.device, [hq.identity.cert_pem])
        target.verify_with(keys)
        prepared = target.prepare(items, office.peer.device)
        assert prepared is not None  # a batch this large is read by the worker
        result = await target.apply_remote(items, office.peer.device, prepared)
        assert (result.changed, result.rejected) == (148, 2)
        rejections = target.rejections()
        assert {r.record for r in rejections} == {ids[6], ids[7]}
        assert all("not signed by" in r.reason for r in rejections)
    finally:
        await target.close()


def test_a_key_set_travels_to_the_worker_as_plain_data() -> None:
    keys = KeySet({"d": "office"}, {"d": "not a certificate"})
    again = pickle.loads(pickle.dumps(keys))
    assert again.role("d") == "office"
    assert again.role("x") is None
    assert not again.verify("x", b"m", b"s")  # an unknown device verifies nothing


async def test_the_replicas_share_is_checked_while_the_event_loop_runs(
    company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Main serves pages beside its sync sessions: the signatures the replica checks of a
    large batch are checked in slices with the event loop turning between them (here a
    slice of one record), and the tampered one is still refused."""
    monkeypatch.setattr(merge, "SLICE", 0.0)
    hq = await company.main()
    ids = [await hq.peer.create("contacts", {"name": f"c{i}"}) for i in range(150)]
    office = await company.add(hq, "office")
    await until(lambda: office.peer.count("contacts") == 150)
    items = [(rid, office.peer.store.state(rid) or b"") for rid in ids]
    items[7] = (items[7][0], tampered(items[7][1]))  # the replica's share: odd positions
    target = await Peer.open(company.root / "fresh", device="fresh", role="office", workers=1)
    try:
        target.verify_with(
            registry.RegistryKeys(office.peer, hq.peer.device, [hq.identity.cert_pem])
        )
        prepared = target.prepare(items, office.peer.device)
        assert prepared is not None
        await prepared  # the worker's part done: what follows is the replica's
        async with loop_turns() as turns:
            result = await target.apply_remote(items, office.peer.device, prepared)
        assert (result.changed, result.rejected) == (149, 1)
        assert target.rejections()[0].record == ids[7]
        assert turns[0] >= 70  # a turn after each of the ~75 records it checked
    finally:
        await target.close()


async def test_a_batch_that_enrols_a_device_is_merged_whole(company: Company) -> None:
    """A device's registry entry at the end of a large batch (read by the worker), its
    records before it: the entry is stored first, so its records verify; none is refused
    for having been checked ahead of it (``Merger.check_ahead``)."""
    hq = await company.main()
    office = await company.add(hq, "office")
    ids = [await office.peer.create("contacts", {"name": f"c{i}"}) for i in range(140)]
    entry = registry.entry_id(office.peer.device)
    items: list[tuple[str, bytes]] = [(rid, office.peer.store.state(rid) or b"") for rid in ids]
    items.append((entry, hq.peer.store.state(entry) or b""))
    target = await Peer.open(company.root / "fresh", device="fresh", role="office", workers=1)
    try:
        target.verify_with(registry.RegistryKeys(target, hq.peer.device, [hq.identity.cert_pem]))
        prepared = target.prepare(items, office.peer.device)
        assert prepared is not None
        result = await target.apply_remote(items, office.peer.device, prepared)
        assert (result.changed, result.rejected) == (141, 0)
        assert target.count("contacts") == 140
    finally:
        await target.close()
