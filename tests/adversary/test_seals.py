"""Main's seals: one signature over the digests of many slots, so that a replica taking a
company from another device checks a signature per seal instead of one per record.

What must hold: a sealed slot is taken exactly when its own signature would be (the
digest covers the signature, so a replica without the seal answers the same); only
seals main wrote count; peers send seals and the registry first; main seals what it
signed and what it verified, in this process and in the worker."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from roamsync.peer import Peer
from roamsync.peer.org import registry
from roamsync.peer.record import signing
from roamsync.peer.record.signing import KeySet, decode_seal, encode_seal, seal_digest
from roamsync.transport import memory, tls

from conftest import Company, until

pytestmark = pytest.mark.xdist_group("daemons")


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The messages whose signature this process checks from now on."""
    seen: list[bytes] = []
    real = tls.verifier

    def counting(cert: str) -> Callable[[bytes, bytes], bool]:
        check = real(cert)

        def counted(signature: bytes, message: bytes) -> bool:
            seen.append(message)
            return check(signature, message)

        return counted

    monkeypatch.setattr(tls, "verifier", counting)
    return seen


def test_a_seal_covers_the_signature_too() -> None:
    message, signature = b"roamsync slot v1\0r1\0...", b"sig"
    keys = KeySet({"hq": "main"}, {}, sealed={seal_digest(message, signature)})
    assert keys.verify("hq", message, signature)  # sealed: no certificate needed
    assert not keys.verify("hq", message, b"other")  # another signature is not sealed
    assert not keys.verify("hq", message + b"x", signature)
    assert (
        decode_seal(encode_seal([seal_digest(message, signature)] * 3))
        == [seal_digest(message, signature)] * 3
    )
    assert decode_seal("not base64!") == []
    assert decode_seal(None) == []


def test_the_worker_gets_the_digests_once_per_generation() -> None:
    digest = seal_digest(b"m", b"s")
    sent = pickle.loads(pickle.dumps(KeySet({}, {}, 2, {digest}, 7, digest)))
    assert sent.verify("hq", b"m", b"s")
    again = pickle.loads(pickle.dumps(KeySet({}, {}, 2, {digest}, 7, None)))  # kept
    assert again.verify("hq", b"m", b"s")
    newer = pickle.loads(pickle.dumps(KeySet({}, {}, 2, {digest}, 8, None)))  # never sent
    assert not newer.verify("hq", b"m", b"s")  # it checks signatures (none here: refused)
    signing._WORKER_SEALS.update(generation=None, sealed=frozenset())


async def fresh_from_office(company: Company, hq_device: str, cert: str, source: Peer) -> Peer:
    """A new replica (no worker: every check in this process) that takes everything
    from ``source``, knowing only main's key, as a device that just joined."""
    target = await Peer.open(company.root / "fresh", device="fresh", role="office", workers=0)
    target.verify_with(registry.RegistryKeys(target, hq_device, [cert]))
    await memory.sync(source, target)
    return target


@pytest.mark.parametrize("sealed", [True, False])
async def test_a_sealed_company_costs_a_check_per_seal_not_per_record(
    company: Company, checks: list[bytes], sealed: bool
) -> None:
    hq = await company.main()
    ids = [await hq.peer.create("contacts", {"name": f"c{i}"}) for i in range(300)]
    if sealed:
        assert await hq.peer.seal() == 1
    office = await company.add(hq, "office")
    await until(lambda: office.peer.count("contacts") == 300)
    await until(lambda: office.peer.count("seals") == int(sealed))
    checks.clear()
    target = await fresh_from_office(company, hq.peer.device, hq.identity.cert_pem, office.peer)
    try:
        assert target.count("contacts") == 300
        assert target.rejections() == []
        assert target.get("contacts", ids[123])["name"] == "c123"
        slots = [m for m in checks if m.startswith(b"roamsync slot")]
        if sealed:  # the seal, the two registry entries, the profile made at init; no contact
            assert len(slots) <= 4, len(slots)
        else:
            assert len(slots) >= 300
    finally:
        await target.close()


async def test_main_seals_what_it_verified(company: Company, checks: list[bytes]) -> None:
    """Records the office wrote are checked by main (here and in its worker) and sealed:
    a device taking them from the office checks none of their signatures."""
    hq = await company.main()
    office = await company.add(hq, "office")
    ids = [await office.peer.create("contacts", {"name": f"o{i}"}) for i in range(250)]
    await until(lambda: hq.peer.count("contacts") == 250)
    assert len(hq.peer.seals) >= 250  # every office slot main verified (and its own)
    assert await hq.peer.seal() >= 1
    await until(lambda: office.peer.count("seals") >= 1)
    checks.clear()
    target = await fresh_from_office(company, hq.peer.device, hq.identity.cert_pem, office.peer)
    try:
        assert target.count("contacts") == 250
        assert target.rejections() == []
        assert target.get("contacts", ids[7])["name"] == "o7"
        slots = [m for m in checks if m.startswith(b"roamsync slot")]
        assert len(slots) <= 4, len(slots)
    finally:
        await target.close()


async def test_only_main_seals(company: Company) -> None:
    """An office device has nothing to seal and may not write a seal record."""
    hq = await company.main()
    office = await company.add(hq, "office")
    await office.peer.create("contacts", {"name": "x"})
    assert len(office.peer.seals) == 0
    assert await office.peer.seal() == 0
    with pytest.raises(Exception, match="main"):
        await office.peer.create("seals", {"hashes": encode_seal([b"\0" * 16])})
