"""roamsync.transport.discovery: real mDNS on 127.0.0.1, waits bounded by events.

Every test uses its own company id, so other tests and other runs on this
machine (which share the loopback multicast group) are ignored like any
foreign company.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from zeroconf import IPVersion, NonUniqueNameException, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from roamsync.schema import DiscoveryError, RoamsyncError, UsageError
from roamsync.transport.discovery import (
    SERVICE_TYPE,
    Discovery,
    PeerInfo,
    decode_peer,
    instance_label,
)

pytestmark = pytest.mark.xdist_group("zeroconf")  # mDNS on 127.0.0.1: one worker at a time

WAIT = 8.0  # seconds: generous bound on any one wait; the usual is well under two
LOOPBACK = "127.0.0.1"


def new_id() -> str:
    return uuid.uuid4().hex


class Changes:
    """An asyncio.Event pulsed on every change, to wait for a condition without sleeping."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        self._event.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async def loop() -> None:
            while not predicate():
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(loop(), WAIT)


class Recorder:
    """What one Discovery reported through its callbacks."""

    def __init__(self) -> None:
        self.found: list[PeerInfo] = []
        self.gone: list[str] = []
        self.changes = Changes()

    def on_found(self, peer: PeerInfo) -> None:
        asyncio.get_running_loop()  # raises if zeroconf called us from one of its threads
        self.found.append(peer)
        self.changes.pulse()

    def on_gone(self, device: str) -> None:
        asyncio.get_running_loop()
        self.gone.append(device)
        self.changes.pulse()

    def devices(self) -> set[str]:
        return {peer.device for peer in self.found}


class LogWatch(logging.Handler):
    """Collects the discovery module's log records; tests wait for what was ignored."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changes = Changes()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changes.pulse()

    def matching(self, *parts: str) -> list[logging.LogRecord]:
        return [r for r in self.records if all(p in r.getMessage() for p in parts)]

    async def wait_for(self, *parts: str) -> None:
        await self.changes.wait_until(lambda: bool(self.matching(*parts)))


Make = Callable[..., tuple[Discovery, Recorder]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    """Build Discovery instances on loopback; all are stopped after the test."""
    made: list[Discovery] = []

    def build(
        company: str, *, device: str | None = None, port: int = 4000
    ) -> tuple[Discovery, Recorder]:
        rec = Recorder()
        discovery = Discovery(
            device=device or new_id(),
            company=company,
            port=port,
            on_found=rec.on_found,
            on_gone=rec.on_gone,
            interfaces=[LOOPBACK],
        )
        made.append(discovery)
        return discovery, rec

    yield build
    await asyncio.gather(*(d.stop() for d in made))


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    logger = logging.getLogger("roamsync.transport.discovery")
    watch, level = LogWatch(), logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
    logger.setLevel(level)


@pytest.fixture
async def raw_zc() -> AsyncIterator[AsyncZeroconf]:
    """A bare zeroconf on loopback, for announcements Discovery would never make."""
    zc = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    yield zc
    await zc.async_close()


def raw_service(label: str, port: int, properties: dict[bytes, bytes | None]) -> ServiceInfo:
    name = f"{label}.{SERVICE_TYPE}"
    return ServiceInfo(
        SERVICE_TYPE,
        name,
        server=name,  # what registering would fill in; updating needs it up front
        port=port,
        properties=properties,
        parsed_addresses=[LOOPBACK],
    )


async def announce(zc: AsyncZeroconf, *infos: ServiceInfo) -> None:
    """Register without probing (the names are fresh uuids) and wait out the announcements."""
    sent = [await zc.async_register_service(i, cooperating_responders=True) for i in infos]
    await asyncio.gather(*sent)


def txt(device: str, company: str, port: int) -> dict[bytes, bytes | None]:
    return {b"device": device.encode(), b"company": company.encode(), b"port": str(port).encode()}


async def test_peers_of_one_company_find_each_other_and_ignore_the_rest(
    make: Make, logs: LogWatch
) -> None:
    company, dev_a, dev_b, dev_c = new_id(), new_id(), new_id(), new_id()
    a, ra = make(company, device=dev_a, port=1111)
    b, rb = make(company, device=dev_b, port=2222)
    c, rc = make(new_id(), device=dev_c, port=3333)
    await asyncio.gather(a.start(), b.start(), c.start())

    await ra.changes.wait_until(lambda: bool(ra.found))
    await rb.changes.wait_until(lambda: bool(rb.found))
    # Wait until each has seen, and dropped, its own and the other company's announcement.
    label_a, label_b, label_c = map(instance_label, (dev_a, dev_b, dev_c))
    for me in (label_a, label_b):
        await logs.wait_for(me, "our own announcement")
        await logs.wait_for(me, label_c, "of company")
    await logs.wait_for(label_c, label_a, "of company")
    await logs.wait_for(label_c, label_b, "of company")

    assert ra.found == [PeerInfo(dev_b, company, LOOPBACK, 2222)]
    assert rb.found == [PeerInfo(dev_a, company, LOOPBACK, 1111)]
    assert rc.found == []
    assert a.peers == {dev_b: PeerInfo(dev_b, company, LOOPBACK, 2222)}
    assert ra.gone == rb.gone == []


async def test_stopped_peer_is_gone_and_its_restart_on_another_port_is_found(make: Make) -> None:
    company, device = new_id(), new_id()
    a, ra = make(company)
    b, _ = make(company, device=device, port=5000)
    await asyncio.gather(a.start(), b.start())
    await ra.changes.wait_until(lambda: device in a.peers)

    await b.stop()
    await b.stop()  # idempotent
    await ra.changes.wait_until(lambda: ra.gone == [device])
    assert a.peers == {}

    again, _ = make(company, device=device, port=5001)
    await again.start()
    await ra.changes.wait_until(lambda: len(ra.found) == 2)
    assert ra.found[-1] == PeerInfo(device, company, LOOPBACK, 5001)
    assert a.peers[device].port == 5001


async def test_updated_service_is_reported_again(make: Make, raw_zc: AsyncZeroconf) -> None:
    company, device = new_id(), new_id()
    a, ra = make(company)
    await a.start()
    info = raw_service(device, 6000, txt(device, company, 6000))
    await announce(raw_zc, info)
    await ra.changes.wait_until(lambda: bool(ra.found))

    moved = raw_service(device, 6001, txt(device, company, 6001))
    await (await raw_zc.async_update_service(moved))
    await ra.changes.wait_until(lambda: len(ra.found) == 2)
    assert [p.port for p in ra.found] == [6000, 6001]
    assert a.peers == {device: PeerInfo(device, company, LOOPBACK, 6001)}

    await (await raw_zc.async_unregister_service(moved))
    await ra.changes.wait_until(lambda: ra.gone == [device])


async def test_malformed_announcements_are_logged_once_and_ignored(
    make: Make, raw_zc: AsyncZeroconf, logs: LogWatch, caplog: pytest.LogCaptureFixture
) -> None:
    company = new_id()
    a, ra = make(company)
    await a.start()
    bad: dict[str, dict[bytes, bytes | None]] = {
        "no-company": {b"device": b"d1", b"port": b"7000"},
        "no-port": {b"device": b"d2", b"company": company.encode()},
        "word-port": txt("d3", company, 7000) | {b"port": b"http"},
        "big-port": txt("d4", company, 7000) | {b"port": b"70000"},
        "other-srv-port": txt("d5", company, 7001),
        "long-device": txt("d" * 65, company, 7000),
        "not-utf8": txt("d6", company, 7000) | {b"device": b"\xff\xfe"},
        "valueless": txt("d7", company, 7000) | {b"company": None},
    }
    labels = {kind: f"{kind}-{new_id()}" for kind in bad}
    good = new_id()
    await announce(
        raw_zc,
        *(raw_service(labels[kind], 7000, props) for kind, props in bad.items()),
        raw_service(good, 7000, txt(good, company, 7000)),
    )

    await ra.changes.wait_until(lambda: bool(ra.found))
    for label in labels.values():
        await logs.wait_for(label, "malformed")
    assert ra.found == [PeerInfo(good, company, LOOPBACK, 7000)]
    assert set(a.peers) == {good}

    # A broken peer that keeps announcing is logged again only at debug level.
    label = labels["word-port"]
    props = txt("d3", company, 7000) | {b"port": b"-1"}
    await (await raw_zc.async_update_service(raw_service(label, 7000, props)))
    await logs.changes.wait_until(lambda: len(logs.matching(label, "malformed")) == 2)
    assert [r.levelno for r in logs.matching(label, "malformed")] == [
        logging.WARNING,
        logging.DEBUG,
    ]
    assert ra.found == [PeerInfo(good, company, LOOPBACK, 7000)]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_device_id_already_announced_is_refused(make: Make) -> None:
    company, device = new_id(), new_id()
    first, _ = make(company, device=device)
    await first.start()
    second, _ = make(company, device=device, port=4001)
    with pytest.raises(DiscoveryError) as info:
        await second.start()
    assert isinstance(info.value, RoamsyncError)
    assert isinstance(info.value.__cause__, NonUniqueNameException)
    await second.stop()  # already cleaned up by the failed start; harmless
    assert second.peers == {}


async def test_stop_before_start_does_nothing(make: Make) -> None:
    discovery, _ = make(new_id())
    await discovery.stop()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": ""},
        {"device": "d" * 65},
        {"port": 0},
        {"port": 65536},
        {"interfaces": []},
        {"interfaces": LOOPBACK},
        {"interfaces": ["eth0"]},
        {"announce_address": "localhost"},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"device": "d", "company": "c", "port": 1}
    with pytest.raises(UsageError):
        Discovery(**(args | kwargs), on_found=print, on_gone=print)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("properties", "srv_port", "addresses"),
    [
        ({}, 1, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c"}, 1, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c", b"port": b"0"}, 0, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c", b"port": b"+1"}, 1, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c", b"port": b"\xd9\xa3"}, 3, [LOOPBACK]),  # Arabic 3
        ({b"device": b"d", b"company": b"c", b"port": b"1"}, 2, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c", b"port": b"1"}, None, [LOOPBACK]),
        ({b"device": b"d", b"company": b"c", b"port": b"1"}, 1, []),
        ({b"device": b"", b"company": b"c", b"port": b"1"}, 1, [LOOPBACK]),
        ({b"device": b"d", b"company": b"\xc3", b"port": b"1"}, 1, [LOOPBACK]),
    ],
)
def test_decode_peer_refuses_malformed_records(
    properties: dict[bytes, bytes | None], srv_port: int | None, addresses: list[str]
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every refusal is a plain ValueError
        decode_peer(properties, srv_port, addresses)


def test_decode_peer_reads_a_good_record() -> None:
    props = {b"device": b"d", b"company": b"", b"port": b"443", b"extra": None}
    assert decode_peer(props, 443, ["::1", LOOPBACK]) == PeerInfo("d", "", "::1", 443)


@pytest.mark.parametrize("device", ["ab12", "AB12", "a" * 64, "x.y z", "é", "-"])
def test_instance_label_is_a_valid_unique_label(device: str) -> None:
    label = instance_label(device)
    assert 0 < len(label.encode()) <= 63
    assert label == label.lower()
    assert label.isascii()
    assert "." not in label
    assert instance_label(device) == label
    assert len({instance_label(d) for d in ("ab12", "AB12", "a" * 64, "a" * 63)}) == 4
