"""Find the peers of our company on the local network (mDNS / DNS-SD).

An adapter around python-zeroconf's asyncio API that announces this device
and reports other devices of the same company as "found" and "gone". No
zeroconf type crosses this module: callers see :class:`PeerInfo` and device
ids. Example::

    discovery = Discovery(device=me, company=company, port=8443,
                          on_found=lambda peer: connect(peer.host, peer.port),
                          on_gone=forget)
    await discovery.start()
    ...
    await discovery.stop()

Announcements are untrusted input: one with a missing field, a bad port or
non-UTF-8 text is logged once and ignored; it never raises into zeroconf or
the caller. Callbacks run on the event loop that awaited :meth:`Discovery.start`,
because zeroconf is created inside that loop and attaches to it instead of
starting a thread of its own.

The default is loopback only: announcing on every interface is a decision
for the caller (the peer's configuration), never an accident of a default.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceInfo, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from roamsync.schema import DiscoveryError, UsageError

log = logging.getLogger(__name__)

SERVICE_TYPE = "_roamsync._tcp.local."
MAX_DEVICE = 64
# Seconds. Short so that a peer which vanished without a goodbye (crash,
# lid closed) is dropped within minutes, not zeroconf's default 75 minutes.
TTL = 120
_RESOLVE_TIMEOUT_MS = 2000
_MAX_LABEL = 63  # bytes in one DNS label, the limit for an instance name
_SAFE_LABEL = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class PeerInfo:
    """A device of our company, and where to connect to it."""

    device: str
    company: str
    host: str  # an IPv4 or IPv6 address
    port: int


def instance_label(device: str) -> str:
    """The DNS-SD instance name announcing ``device``.

    The id itself when it is already a valid lower-case label, otherwise a
    readable prefix plus a hash of the whole id: a 64-character fingerprint
    does not fit in a 63-byte label, and DNS names ignore case, so "AB" and
    "ab" would collide.
    """
    if len(device) <= _MAX_LABEL and _SAFE_LABEL.fullmatch(device):
        return device
    digest = hashlib.sha256(device.encode()).hexdigest()[:16]
    prefix = re.sub(r"[^a-z0-9]+", "-", device.lower())[:46].strip("-")
    return f"{prefix}-{digest}" if prefix else digest


def decode_peer(
    properties: Mapping[bytes, bytes | None], srv_port: int | None, addresses: Sequence[str]
) -> PeerInfo:
    """Read a peer from its TXT properties, SRV port and addresses.

    Raises ``ValueError`` (``UnicodeDecodeError`` included) for anything
    malformed, so a caller catches one type for every bad announcement.
    """
    device, company, port_text = (_text(properties, key) for key in ("device", "company", "port"))
    if not 0 < len(device) <= MAX_DEVICE:
        raise ValueError(f"device id of {len(device)} characters, expected 1-{MAX_DEVICE}")
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"port {port_text!r} is not a number in 1-65535")
    if int(port_text) != srv_port:
        raise ValueError(f"TXT port {port_text} differs from SRV port {srv_port}")
    if not addresses:
        raise ValueError("no address")
    return PeerInfo(device, company, addresses[0], int(port_text))


def _text(properties: Mapping[bytes, bytes | None], key: str) -> str:
    value = properties.get(key.encode())
    if value is None:
        raise ValueError(f"no {key} in the TXT record")
    return value.decode()


class Discovery:
    """Announce this device and report the peers of the same company."""

    def __init__(
        self,
        *,
        device: str,
        company: str,
        port: int,
        on_found: Callable[[PeerInfo], None],
        on_gone: Callable[[str], None],
        interfaces: Sequence[str] = ("127.0.0.1",),
        announce_address: str = "127.0.0.1",
    ) -> None:
        _check_args(device, port, interfaces, announce_address)
        self._device, self._company, self._port = device, company, port
        self._on_found, self._on_gone = on_found, on_gone
        self._interfaces = list(interfaces)
        self._announce_address = announce_address
        self._label = instance_label(device)
        self._name = f"{self._label}.{SERVICE_TYPE}"
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._announcing: asyncio.Future[Any] | None = None
        self._resolving: dict[str, asyncio.Task[None]] = {}  # by lower-case service name
        self._by_name: dict[str, PeerInfo] = {}
        self._warned: set[str] = set()

    @property
    def peers(self) -> dict[str, PeerInfo]:
        """The peers currently known, by device id."""
        return {peer.device: peer for peer in self._by_name.values()}

    async def start(self) -> None:
        """Browse for peers, then announce ourselves; ``DiscoveryError`` if that fails.

        Browsing starts first so that peers are found during the second or so
        zeroconf spends probing that our name is not taken.
        """
        if self._zc is not None:
            raise DiscoveryError("discovery is already started")
        try:
            await self._start()
        except (ZeroconfError, OSError) as exc:
            await self.stop()
            reason = f"{type(exc).__name__} {exc}".strip()
            raise DiscoveryError(f"cannot announce {self._name} on mDNS: {reason}") from exc
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._zc = zc = AsyncZeroconf(interfaces=self._interfaces, ip_version=self._ip_version())
        self._browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        announced = await zc.async_register_service(self._service_info())
        self._announcing = asyncio.ensure_future(announced)

    async def stop(self) -> None:
        """Say goodbye on the network and close; calling it again does nothing.

        Known peers are forgotten without ``on_gone``: the caller is the one
        that stopped listening.
        """
        zc, self._zc = self._zc, None
        if zc is None:
            return
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        pending = [*self._resolving.values(), *filter(None, [self._announcing])]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._resolving.clear()
        self._by_name.clear()
        self._announcing = None
        await zc.async_close()  # sends the goodbyes for our service

    def _ip_version(self) -> IPVersion | None:
        """IPv4 only when every interface is IPv4; otherwise zeroconf picks from the list."""
        if all(ipaddress.ip_address(i).version == 4 for i in self._interfaces):
            return IPVersion.V4Only
        return None

    def _service_info(self) -> ServiceInfo:
        properties = {"device": self._device, "company": self._company, "port": str(self._port)}
        return ServiceInfo(
            SERVICE_TYPE,
            self._name,
            port=self._port,
            properties=properties,
            parsed_addresses=[self._announce_address],
            host_ttl=TTL,
            other_ttl=TTL,
        )

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Called by zeroconf's browser, on our event loop, for every change of a service."""
        key = name.lower()
        if self._zc is None:
            return
        if key == self._name.lower():
            log.debug("%s: ignoring our own announcement", self._label)
            return
        if (task := self._resolving.pop(key, None)) is not None:
            task.cancel()  # the newest change wins
        if state_change is ServiceStateChange.Removed:
            self._forget(key)
        else:
            self._resolving[key] = self._spawn(self._resolve(zeroconf, service_type, name))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(coro)

    async def _resolve(self, zc: Zeroconf, service_type: str, name: str) -> None:
        """Look up a service's TXT, SRV and address records, then report what changed."""
        key = name.lower()
        try:
            info = AsyncServiceInfo(service_type, name)
            if not await info.async_request(zc, _RESOLVE_TIMEOUT_MS):
                log.debug("%s: no answer resolving %s", self._label, name)
                return
            self._update(key, self._read(name, info))
        except ZeroconfError as exc:  # e.g. a name that is not a valid instance name
            self._warn_malformed(name, exc)
        finally:
            if self._resolving.get(key) is asyncio.current_task():
                del self._resolving[key]

    def _read(self, name: str, info: AsyncServiceInfo) -> PeerInfo | None:
        """The peer a service announces, or None if it is malformed or not for us."""
        try:
            peer = decode_peer(info.properties, info.port, info.parsed_scoped_addresses())
        except ValueError as exc:
            self._warn_malformed(name, exc)
            return None
        if peer.company != self._company:
            log.debug("%s: ignoring %s of company %r", self._label, name, peer.company)
            return None
        if peer.device == self._device:
            log.warning("%s: %s announces our own device id; ignoring it", self._label, name)
            return None
        return peer

    def _warn_malformed(self, name: str, exc: Exception) -> None:
        """Warn once per service, so a broken peer re-announcing cannot flood the log."""
        level = logging.DEBUG if name.lower() in self._warned else logging.WARNING
        self._warned.add(name.lower())
        log.log(level, "%s: ignoring malformed announcement %s: %s", self._label, name, exc)

    def _update(self, key: str, peer: PeerInfo | None) -> None:
        old = self._by_name.get(key)
        if peer == old:
            return
        if old is not None and (peer is None or peer.device != old.device):
            self._forget(key)
        if peer is not None:
            self._by_name[key] = peer
            self._call(self._on_found, peer)

    def _forget(self, key: str) -> None:
        old = self._by_name.pop(key, None)
        if old is not None and old.device not in self.peers:
            self._call(self._on_gone, old.device)

    def _call(self, callback: Callable[[Any], None], arg: object) -> None:
        """Run a callback; one that raises must not stop discovery or zeroconf's dispatch."""
        try:
            callback(arg)
        except Exception:
            log.exception("%s: discovery callback %r failed", self._label, callback)


def _check_args(device: str, port: int, interfaces: Sequence[str], announce: str) -> None:
    if not 0 < len(device) <= MAX_DEVICE:
        raise UsageError(f"device id of {len(device)} characters, expected 1-{MAX_DEVICE}")
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is not in 1-65535")
    if isinstance(interfaces, str) or not interfaces:
        raise UsageError("interfaces must be a non-empty list of IP addresses")
    for address in [*interfaces, announce]:
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise UsageError(f"{address!r} is not an IP address") from exc
