"""Nodes over real loopback TLS: enrolment, sync, refusal of strangers, revocation, discovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry
from roamsync.peer.org.config import load_config, save_config
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.schema import ChannelClosed, InvitationError, NodeError
from roamsync.transport import tls
from roamsync.transport.discovery import PeerInfo
from roamsync.transport.websocket import SYNC_PATH, connect

from conftest import Company, until


async def test_join_then_sync_both_ways(company: Company) -> None:
    hq = await company.main()
    laptop = await company.add(hq, "laptop", "travel")
    assert laptop.peer.role == "travel"
    acme = await hq.peer.create("contacts", {"name": "Acme"})
    await until(lambda: laptop.peer.store.view(acme) is not None)
    order = await laptop.peer.create("orders", {"contact": acme})
    await until(lambda: laptop.peer.get("orders", order)["number"] == "1")
    assert laptop.peer.get("orders", order)["provisional_number"] == "P-laptop-1"
    assert {e.name for e in registry.devices(laptop.peer)} == {"hq", "laptop"}


async def test_wrong_codes_lock_the_invitation(company: Company) -> None:
    hq = await company.main()
    folder = company.root / "mallory"
    await init_directory(folder, name="mallory", role="office", company_name="x", port=0)
    code = registry.invite(hq.peer, hq.identity.fingerprint, "office")
    fingerprint, invitation, _ = registry.parse_code(code)
    for _ in range(registry.MAX_ATTEMPTS):
        with pytest.raises(InvitationError, match="wrong code"):
            await join_company(folder, f"{fingerprint}.{invitation}.guess", f"127.0.0.1:{hq.port}")
    with pytest.raises(InvitationError, match="locked"):
        await join_company(folder, code, f"127.0.0.1:{hq.port}")


async def test_a_code_for_another_main_is_not_sent(company: Company, tmp_path: Path) -> None:
    hq = await company.main()
    folder = company.root / "laptop"
    await init_directory(folder, name="laptop", role="office", company_name="x", port=0)
    code = registry.invite(hq.peer, "ab" * 32, "office")  # names another certificate
    with pytest.raises(InvitationError, match="not the main device"):
        await join_company(folder, code, f"127.0.0.1:{hq.port}")


async def test_unenrolled_and_revoked_devices_are_refused(company: Company) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    await until(
        lambda: (
            "office" in {s.device for s in hq.sessions.states.values()} or bool(hq.sessions.states)
        )
    )
    # A stranger with its own key and a copy of the config cannot sync.
    stranger = company.root / "stranger"
    await init_directory(stranger, name="stranger", role="office", company_name="x", port=0)
    config = load_config(stranger)
    office_config = load_config(company.root / "office")
    config.company, config.trusted, config.peers = (
        office_config.company,
        office_config.trusted,
        [f"127.0.0.1:{hq.port}"],
    )
    save_config(stranger, config)
    intruder = await company.start(stranger)
    secret = await hq.peer.create("contacts", {"name": "secret"})
    await until(lambda: intruder.last_error is not None)  # it dialed hq and was refused
    assert intruder.peer.store.view(secret) is None
    assert intruder.peer.device not in hq.sessions.states
    # Revoking a device ends its session and keeps it out.
    await until(lambda: office.peer.store.view(secret) is not None)
    await registry.revoke(hq.peer, "office")
    await until(lambda: hq.sessions.states[office.peer.device].session is None)
    later = await hq.peer.create("contacts", {"name": "after revoke"})
    await until(lambda: not office.serving)  # it learnt it was disconnected, and stopped
    assert office.revoked
    assert hq.trust.known(office.identity.fingerprint) is None  # main refuses it
    assert office.peer.store.view(later) is None


@pytest.mark.xdist_group("zeroconf")
async def test_devices_of_one_company_find_each_other(company: Company) -> None:
    hq = await company.main(discovery=True)
    a = await company.add(hq, "office-a", discovery=True)
    b = await company.add(hq, "office-b", discovery=True)
    note = await a.peer.create("contacts", {"name": "from a"})
    await until(lambda: b.peer.store.view(note) is not None, limit=20)
    assert (
        a.peer.device in b.sessions.states
        or b.peer.device in a.sessions.states
        or hq.sessions.states
    )


async def test_a_device_is_usable_during_its_initial_sync(company: Company) -> None:
    hq = await company.main()
    hq.sessions.frame_budget = 64 << 10  # some 200 records a frame: the sync takes many steps
    n = 3000
    for i in range(n):
        await hq.peer.create("contacts", {"name": f"c{i}"})
    office = await company.add(hq, "office")
    seen: list[tuple[int, int]] = []
    office.sessions.on_progress = lambda device, done, total: seen.append((done, total))
    await until(lambda: 0 < office.peer.count("contacts") < n, limit=30)
    mine = await office.peer.create("contacts", {"name": "written mid-sync"})  # writes work
    assert office.peer.get("contacts", mine)["name"] == "written mid-sync"  # reads too
    await until(lambda: office.peer.count("contacts") == n + 1, limit=60)
    await until(lambda: hq.peer.store.view(mine) is not None)
    assert seen
    assert seen[-1][1] >= n  # the progress knew the total


async def test_a_peer_that_never_says_hello_does_not_hold_up_stop(company: Company) -> None:
    """Found by the chaos test: a node closed only the sessions past their handshake, so
    its web server waited for one still in it (until a heartbeat failed, or a minute)."""
    hq = await company.main()
    office = await company.add(hq, "office")
    await company.stop_one(office)
    context = tls.client_context(office.identity, [hq.identity.cert_pem])
    async with aiohttp.ClientSession() as http:
        # Once connected, hq's handler runs (the upgrade is done) and waits for a hello.
        silent = await connect(http, f"https://127.0.0.1:{hq.port}{SYNC_PATH}", context)

        async def read_all() -> None:  # answers pings; never sends a hello
            while True:
                await silent.recv()

        reader = asyncio.ensure_future(read_all())
        started = time.monotonic()
        await company.stop_one(hq)
        assert time.monotonic() - started < 3
        with pytest.raises(ChannelClosed):
            await asyncio.wait_for(reader, 5)


async def test_an_address_discovery_reports_gone_is_no_longer_dialed(company: Company) -> None:
    hq = await company.main()
    ghost = PeerInfo(device="f" * 16, company=hq.config.company, host="127.0.0.1", port=1)
    hq._found(ghost)  # nothing listens there: the dialer retries with backoff
    assert "127.0.0.1:1" in hq.dialer.addresses
    hq._gone(ghost.device)
    await until(lambda: not hq.supervisor.running("dial 127.0.0.1:1"))
    assert hq.dialer.addresses == set()


async def test_a_configured_address_stays_dialed_when_discovery_loses_it(company: Company) -> None:
    hq = await company.main()
    hq.config.peers.append("127.0.0.1:2")
    hq.dial("127.0.0.1:2")
    hq._found(PeerInfo(device="f" * 16, company=hq.config.company, host="127.0.0.1", port=2))
    hq._gone("f" * 16)
    assert "127.0.0.1:2" in hq.dialer.addresses


async def test_dial_before_start_is_a_node_error(company: Company) -> None:
    await company.main()
    await company.stop()
    company.nodes.clear()
    node = await Node.open(company.root / "hq")
    try:
        with pytest.raises(NodeError, match="not started"):
            node.dial("127.0.0.1:1")
    finally:
        await node.stop()
