"""A check-in that fails part-way is finished by running it again, with the policy first
chosen; until then the device is offline for itself and for everyone (issue 13, 1).

Each step of ``check_in`` is made to fail in turn (no peer to sync with, or a crash,
after which the node is stopped and opened again, as a killed daemon would be); a
retry then finishes: the policy applied, the status record and the config online,
main sees the device back."""

from __future__ import annotations

from typing import Any

import pytest

from roamsync.peer import ops
from roamsync.peer.daemon import checkout
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry
from roamsync.peer.org.config import load_config, save_config
from roamsync.schema import NodeError, UsageError

from conftest import Company, until

pytestmark = pytest.mark.xdist_group("daemons")


class Crash(Exception):
    """Where the daemon was killed."""


def status(node: Node, device: str) -> bool | None:
    """Whether ``node`` shows ``device`` offline (None: no status record)."""
    view = node.peer.store.view(f"status-{device}")
    return (
        None
        if view is None
        else bool(node.peer.get("device_status", f"status-{device}")["offline"])
    )


async def offline_conflict(company: Company) -> tuple[Node, Node, str]:
    """Main and a travel laptop that checked out; both then edit one contact's phone."""
    hq = await company.main()
    laptop = await company.add(hq, "laptop", "travel")
    acme = await hq.peer.create("contacts", {"name": "Acme AS"})
    await until(lambda: laptop.peer.store.view(acme) is not None)
    await checkout.check_out(laptop, within=10)
    await laptop.peer.update("contacts", acme, {"phone": "laptop"})
    await hq.peer.update("contacts", acme, {"phone": "main"})
    return hq, laptop, acme


def failing(step: str, monkeypatch: pytest.MonkeyPatch, laptop: Node) -> None:
    real_wait, real_save = checkout.wait_synced, save_config
    calls = {"wait": 0}

    async def wait(node: Node, within: float) -> list[str]:
        calls["wait"] += 1
        if step == "sync" and calls["wait"] == 1:
            raise NodeError("could not finish syncing within 5 s (no peer)")
        if step == "final" and calls["wait"] == 2:
            raise Crash(step)
        return await real_wait(node, within)

    def save(folder: Any, config: Any) -> None:
        if step == "config" and not config.offline:
            raise Crash(step)
        real_save(folder, config)

    async def crash(*args: object, **kwargs: object) -> Any:
        raise Crash(step)

    monkeypatch.setattr(checkout, "wait_synced", wait)
    monkeypatch.setattr("roamsync.peer.daemon.checkout.save_config", save)
    if step == "policy":
        monkeypatch.setattr(laptop.peer, "apply_policy", crash)
    if step == "status":
        monkeypatch.setattr(checkout, "_set_status", crash)


@pytest.mark.parametrize("step", ["sync", "policy", "status", "config", "final"])
async def test_a_failed_check_in_is_finished_by_a_retry(
    company: Company, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    hq, laptop, acme = await offline_conflict(company)
    await until(lambda: status(hq, laptop.peer.device) is True)

    failing(step, monkeypatch, laptop)
    with pytest.raises((Crash, NodeError)) as failed:
        await checkout.check_in(laptop, "local", within=10)
    if step == "sync":
        assert "still offline" in str(failed.value)
        assert "roamsync online" in str(failed.value)
    monkeypatch.undo()
    folder = laptop.folder
    await company.stop_one(laptop)  # killed: opened again by a new daemon
    laptop = await company.start(folder)

    config = load_config(folder)
    if step == "final":  # every step was done: online, and nothing to finish
        assert not config.offline
        with pytest.raises(UsageError, match="not working offline"):
            await checkout.check_in(laptop, "central", within=10)
    else:
        assert config.offline
        assert config.checking_in == "local"
        assert not laptop.serving  # a daemon started mid-check-in stays offline
        result = await checkout.check_in(laptop, "central", within=10)  # another policy
        assert result["policy"] == "local"  # the one first chosen
        assert result["uploaded"] == 1
        assert result["synced_with"] == ["hq"]
    config = load_config(folder)
    assert (config.offline, config.checking_in) == (False, "")
    await until(lambda: hq.peer.get("contacts", acme)["phone"] == "laptop")
    await until(lambda: status(hq, laptop.peer.device) is False)
    assert status(laptop, laptop.peer.device) is False


async def test_the_summary_lists_only_the_conflicts_settled_now(company: Company) -> None:
    _, laptop, _ = await offline_conflict(company)
    result = await checkout.check_in(laptop, "local", within=10)
    assert [c["field"] for c in result["conflicts"]] == ["phone"]
    await checkout.check_out(laptop, within=10)
    again = await checkout.check_in(laptop, "local", within=10)
    assert again["conflicts"] == []  # the first one was settled before
    assert again["uploaded"] == 0


async def test_status_log_and_history_name_devices_and_warn_when_main_is_gone(
    company: Company,
) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    laptop = await company.add(hq, "laptop", "travel")
    await until(lambda: laptop.peer.store.view(f"device-{office.peer.device}") is not None)
    laptop.dial(f"127.0.0.1:{office.port}")  # no discovery here: the office by address
    await until(lambda: len(laptop.sessions.running()) == 2)
    await until(lambda: all(s.caught_up() for s in laptop.sessions.running()))
    info = await ops.status(laptop)
    assert {p["name"] for p in info["peers"]} == {"hq", "office"}
    assert info["health"] == "green", info["reason"]
    await company.stop_one(hq)
    await until(lambda: not laptop.sessions.is_running(hq.peer.device))
    info = await ops.status(laptop)
    assert info["health"] == "yellow"
    assert "main is not reachable" in info["reason"]
    assert "final numbers" in info["reason"]
    logged = await ops.log(office)
    assert {row["name"] for row in logged} >= {"hq"}
    assert all(row["name"] != row["peer"] for row in logged)


async def test_two_devices_dialling_each_other_keep_one_session_and_log_no_failure(
    company: Company,
) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")  # it dials main
    await until(lambda: len(office.sessions.running()) == 1)
    waiting: list[str] = []
    real_wait = hq.sessions.until_ended

    async def until_ended(device: str, poll: float = 1.0) -> None:
        waiting.append(device)
        await real_wait(device, poll)

    hq.sessions.until_ended = until_ended  # type: ignore[method-assign]
    hq.dial(f"127.0.0.1:{office.port}")  # and main dials it: it connects, sees the session
    await until(lambda: waiting == [office.peer.device])  # and waits for it to end
    probe = await hq.peer.create("contacts", {"name": "still syncing"})
    await until(lambda: office.peer.store.view(probe) is not None)
    for node in (hq, office):
        assert len(node.sessions.running()) == 1
        failed = [row for row in await ops.log(node) if row["status"] != "ok"]
        assert failed == [], failed


async def test_a_disconnected_device_says_so_and_stops_dialling(company: Company) -> None:
    hq = await company.main()
    laptop = await company.add(hq, "laptop", "travel")
    await until(lambda: len(laptop.sessions.running()) == 1)
    await registry.revoke(hq.peer, "laptop")
    await until(lambda: laptop.revoked)  # the revocation reached it before the session closed
    await until(lambda: not laptop.serving)
    info = await ops.status(laptop)
    assert info["health"] == "red"
    assert "disconnected by main" in info["reason"]
    assert not laptop.dialer.addresses  # no more dialling
