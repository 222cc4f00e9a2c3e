"""The worker process checks the signed writes of an initial sync beside the replica; a
record whose signature was tampered with is refused there and recorded, the rest taken."""

from __future__ import annotations

import pickle

from roamsync.peer import Peer
from roamsync.peer.org import registry
from roamsync.peer.record.signing import KeySet

from conftest import Company, until


def tampered(state: bytes) -> bytes:
    """The state with one character of its slot's signature changed (same length)."""
    at = state.index(b"\x1e") + 12
    flipped = b"A" if state[at : at + 1] != b"A" else b"B"
    return state[:at] + flipped + state[at + 1 :]


async def test_the_worker_refuses_a_tampered_signature(company: Company) -> None:
    hq = await company.main()
    ids = [await hq.peer.create("contacts", {"name": f"c{i}"}) for i in range(150)]
    office = await company.add(hq, "office")
    await until(lambda: office.peer.count("contacts") == 150)
    items = [(rid, office.peer.store.state(rid) or b"") for rid in ids]
    items[7] = (items[7][0], tampered(items[7][1]))
    target = await Peer.open(company.root / "fresh", device="fresh", role="office", workers=1)
    try:
        keys = registry.RegistryKeys(office.peer, hq.peer.device, [hq.identity.cert_pem])
        target.verify_with(keys)
        prepared = target.prepare(items, office.peer.device)
        assert prepared is not None  # a batch this large is read by the worker
        result = await target.apply_remote(items, office.peer.device, prepared)
        assert (result.changed, result.rejected) == (149, 1)
        [rejection] = target.rejections()
        assert rejection.record == ids[7]
        assert "not signed by" in rejection.reason
    finally:
        await target.close()


def test_a_key_set_travels_to_the_worker_as_plain_data() -> None:
    keys = KeySet({"d": "office"}, {"d": "not a certificate"})
    again = pickle.loads(pickle.dumps(keys))
    assert again.role("d") == "office"
    assert again.role("x") is None
    assert not again.verify("x", b"m", b"s")  # an unknown device verifies nothing
