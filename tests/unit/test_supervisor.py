"""Background tasks of a node: restarted when they fail, stopped without hiding errors;
the dialer redials with backoff, restarts a loop that failed, and forgets addresses."""

from __future__ import annotations

import asyncio
import logging

import pytest

from roamsync.peer.daemon.dialer import Dialer
from roamsync.peer.daemon.supervisor import Supervisor
from roamsync.schema import ChannelClosed, NodeError

from conftest import until

FAST = {"backoff_start": 0.001, "backoff_max": 0.002}


async def test_a_task_that_fails_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor(**FAST)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("a bug")
        await asyncio.Event().wait()  # the third run works

    with caplog.at_level(logging.WARNING):
        supervisor.spawn("flaky", flaky)
        await until(lambda: len(runs) == 3)
    assert supervisor.restarts["flaky"] == 2
    failures = [r for r in caplog.records if "task flaky failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno >= logging.WARNING and r.exc_info for r in failures)
    await supervisor.stop()
    assert supervisor.names() == []


async def test_a_task_that_finishes_is_not_restarted() -> None:
    supervisor = Supervisor(**FAST)
    done = asyncio.Event()

    async def once() -> None:
        done.set()

    supervisor.spawn("once", once)
    await done.wait()
    await until(lambda: not supervisor.running("once"))
    assert supervisor.restarts == {}


async def test_stop_logs_what_a_task_raises_on_its_way_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(**FAST)
    started = asyncio.Event()

    async def messy() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            raise OSError("cleanup failed")

    supervisor.spawn("messy", messy)
    await started.wait()
    with caplog.at_level(logging.ERROR):
        await supervisor.stop()
    [record] = [r for r in caplog.records if "messy failed while stopping" in r.getMessage()]
    assert record.exc_info is not None
    assert "cleanup failed" in str(record.exc_info[1])


def _dialer(connect: object, failures: list[tuple[str, str]]) -> Dialer:
    supervisor = Supervisor(**FAST)
    return Dialer(connect, lambda a, e: failures.append((a, e)), supervisor)  # type: ignore[arg-type]


async def test_dial_before_start_is_a_node_error() -> None:
    dialer = _dialer(None, [])
    with pytest.raises(NodeError, match="not started"):
        dialer.dial("127.0.0.1:1")


async def test_a_dial_loop_that_raises_unexpectedly_is_restarted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamsync.peer.daemon.dialer.BACKOFF_START", 0.001)
    attempts: list[str] = []

    async def connect(address: str) -> None:
        attempts.append(address)
        if len(attempts) == 1:
            raise KeyError("a bug in the session code")
        if len(attempts) < 4:
            raise ChannelClosed("refused")  # an ordinary failure: redialed with backoff
        await asyncio.Event().wait()

    failures: list[tuple[str, str]] = []
    dialer = _dialer(connect, failures)
    dialer.start()
    with caplog.at_level(logging.WARNING):
        dialer.dial("127.0.0.1:9")
        await until(lambda: len(attempts) == 4)
    assert any("dial 127.0.0.1:9 failed" in r.getMessage() for r in caplog.records)
    assert failures == [("127.0.0.1:9", "refused")] * 2
    await dialer.stop()


async def test_a_forgotten_address_is_not_redialed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("roamsync.peer.daemon.dialer.BACKOFF_START", 0.001)
    attempts: list[str] = []

    async def connect(address: str) -> None:
        attempts.append(address)
        raise ChannelClosed("nobody there")

    dialer = _dialer(connect, [])
    dialer.start()
    dialer.dial("10.0.0.1:7420")
    await until(lambda: len(attempts) >= 2)
    await dialer.forget("10.0.0.1:7420")
    assert dialer.addresses == set()
    count = len(attempts)
    dialer.dial("10.0.0.2:7420")  # a later attempt elsewhere shows the loop ran on
    await until(lambda: "10.0.0.2:7420" in attempts)
    assert attempts[count:].count("10.0.0.1:7420") == 0
    await dialer.stop()
