"""The running peer: the replica plus its network side.

A node listens for peers (mutual TLS websocket at ``/sync``, and ``/join``
for enrolment on main), dials the peers it knows (``--peer`` addresses and
those zeroconf discovers for its company), keeps one sync session per remote
device, reconnects with exponential backoff and jitter, and keeps its TLS
trust in step with the replicated device registry.

Who may sync: a certificate with an active registry entry, whose hello names
the device id of that certificate and the role the registry gives it, and
the same company. Anything else is refused before any record data flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from roamsync.peer import company, journal, metrics, registry
from roamsync.peer.config import TLS_DIR, Config, DirectoryLock, load_config, save_config
from roamsync.peer.replica import Peer
from roamsync.schema import RoamsyncError, UsageError
from roamsync.transport import tls
from roamsync.transport.channel import ChannelClosed
from roamsync.transport.discovery import Discovery, PeerInfo
from roamsync.transport.protocol import Hello
from roamsync.transport.session import FRAME_BUDGET, Session, SessionRefused
from roamsync.transport.websocket import SYNC_PATH, WebSocketChannel, accept, connect

log = logging.getLogger(__name__)

JOIN_PATH = "/join"
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STABLE_SESSION = 10.0  # a session that lasted this long resets the backoff


class NodeError(RoamsyncError):
    """The node could not start (data directory in use, port taken, ...)."""


@dataclass
class PeerState:
    """What the node knows of one remote device, for status and devices output."""

    device: str
    session: Session | None = None
    connected_since: float | None = None
    last_seen: float | None = None
    last_error: str | None = None
    address: str | None = None


@dataclass
class Node:
    folder: Path
    config: Config
    peer: Peer
    identity: tls.Identity
    lock: DirectoryLock
    states: dict[str, PeerState] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None
    _server_ssl: ssl.SSLContext | None = None
    _client_ssl: ssl.SSLContext | None = None
    _http: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _dialers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _channels: set[WebSocketChannel] = field(default_factory=set)  # sessions, from accept/dial
    _discovery: Discovery | None = None
    _trusted: set[str] = field(default_factory=set)
    _stopping: bool = False
    _discover: bool = True
    last_error: str | None = None
    on_progress: Callable[[str, int, int], None] | None = None  # device, received, expected
    frame_budget: int = FRAME_BUDGET  # bytes of record state per Changes frame we send

    @classmethod
    async def open(cls, folder: Path, **options: Any) -> Node:
        """Open the data directory (exclusively) and its replica; :meth:`start` to go online."""
        config = load_config(folder)
        if not config.enrolled:
            raise UsageError(f"{folder} has not joined a company yet (roamsync join)")
        lock = DirectoryLock(folder)
        if not lock.acquire():
            raise NodeError(f"{folder} is in use by another roamsync process")
        try:
            identity = tls.load_identity(folder / TLS_DIR)
            peer = await Peer.open(
                folder, device=config.device, role=config.role, label=config.name, **options
            )
        except BaseException:
            lock.release()
            raise
        return cls(folder, config, peer, identity, lock)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, *, discovery: bool | None = None) -> None:
        """Go online: listen, dial, discover; a checked-out device stays offline."""
        if self.config.sample:
            raise NodeError("this is a sample company: it never syncs")
        self._discover = self.config.discovery if discovery is None else discovery
        self._refresh_trust()
        self._http = aiohttp.ClientSession()
        self._spawn(self._watch_registry())
        journal.prune_history(self.peer)
        if self.config.offline:
            log.info("%s is working offline since %s", self.config.name, self.config.offline_since)
            return
        await self._start_network()

    async def _start_network(self) -> None:
        app = web.Application()
        app.router.add_get(SYNC_PATH, self._handle_sync)
        app.router.add_get(JOIN_PATH, self._handle_join)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.listen, self.config.port, ssl_context=self._server_ssl
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise NodeError(
                f"cannot listen on {self.config.listen}:{self.config.port}: {exc}"
            ) from exc
        self.port = self._runner.addresses[0][1]
        log.info(
            "%s (%s) listening on %s:%d",
            self.config.name,
            self.peer.role,
            self.config.listen,
            self.port,
        )
        self._stopping = False
        for address in self.config.peers:
            self.dial(address)
        if self._discover:
            await self._start_discovery()

    async def _stop_network(self) -> None:
        self._stopping = True  # from here on, no new session starts
        if self._discovery is not None:
            await self._discovery.stop()
            self._discovery = None
        # Close every session's channel, those still in their handshake too: the server
        # would otherwise wait for their handlers (up to a minute) before it stops.
        await asyncio.gather(*(c.close() for c in list(self._channels)), return_exceptions=True)
        dialers = list(self._dialers.values())
        self._dialers.clear()
        for task in dialers:
            task.cancel()
        for task in dialers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        await self._stop_network()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.close()
        await self.peer.close()
        self.lock.release()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- trust follows the registry ----------------------------------------------------

    def _refresh_trust(self) -> None:
        """Trust every active device's certificate; drop sessions of revoked ones."""
        entries = registry.devices(self.peer)
        certs = {e.cert for e in entries if e.active} | set(self.config.trusted)
        if self._server_ssl is None or self._client_ssl is None or not certs <= self._trusted:
            if self._server_ssl is None:
                self._server_ssl = tls.server_context(self.identity, certs)
                self._client_ssl = tls.client_context(self.identity, certs)
            else:
                assert self._client_ssl is not None
                for cert in certs - self._trusted:
                    tls.trust(self._server_ssl, cert)
                    tls.trust(self._client_ssl, cert)
            self._trusted |= certs
        revoked = {e.device for e in entries if not e.active}
        for device in revoked & set(self.states):
            session = self.states[device].session
            if session is not None:
                log.warning("closing the session with revoked device %s", device)
                self._spawn(session.channel.close())

    async def _watch_registry(self) -> None:
        changed = self.peer.listen()
        try:
            while True:
                await changed.wait()
                changed.clear()
                self._refresh_trust()
        finally:
            self.peer.unlisten(changed)

    # -- sessions ------------------------------------------------------------------------

    def _known(self, fingerprint: str | None) -> registry.DeviceEntry | None:
        """The enrolled device behind a certificate; main is known from the config
        too, since a device that just joined has not received the registry yet."""
        entry = registry.lookup(self.peer, fingerprint)
        if entry is None and fingerprint and fingerprint == self.config.main_fingerprint:
            revoked = {e.fingerprint for e in registry.devices(self.peer) if not e.active}
            if fingerprint not in revoked:
                main = self.config.main_device
                return registry.DeviceEntry(main, "main", "main", fingerprint, "", "active")
        return entry

    def _authorizer(self, fingerprint: str | None) -> Callable[[Hello], str | None]:
        def authorize(hello: Hello) -> str | None:
            entry = self._known(fingerprint)
            if entry is None:
                return "this device is not enrolled in the company (or was disconnected)"
            if hello.device != entry.device:
                return "the hello names another device than the certificate"
            if hello.role != entry.role:
                return f"the registry says {entry.device} is {entry.role}, not {hello.role}"
            current = self.states.get(hello.device)
            if current is not None and current.session is not None:
                return "a session with this device is running already"
            return None

        return authorize

    async def _run_session(
        self, channel: WebSocketChannel, fingerprint: str | None, address: str | None
    ) -> None:
        self._channels.add(channel)
        try:
            await self._session(channel, fingerprint, address)
        finally:
            self._channels.discard(channel)

    async def _session(
        self, channel: WebSocketChannel, fingerprint: str | None, address: str | None
    ) -> None:
        session = Session(
            self.peer,
            channel,
            company=self.config.company,
            anti_entropy=self.config.anti_entropy,
            frame_budget=self.frame_budget,
            authorize=self._authorizer(fingerprint),
        )
        session.on_progress = lambda done, total: self._progress(session, done, total)
        task = asyncio.ensure_future(session.run())
        ready = asyncio.ensure_future(session.ready.wait())
        await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
        if not session.ready.is_set():
            ready.cancel()
            await task  # raises SessionRefused
            return
        device = session.remote_device
        state = self.states.setdefault(device, PeerState(device))
        started = time.time()
        state.session, state.connected_since, state.address = session, started, address
        state.last_error = None
        error: str | None = None
        try:
            await task
        except Exception as exc:
            error = state.last_error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            state.session, state.connected_since = None, None
            metrics.record_session_end(self, session.stats)  # same step: never counted twice
            state.last_seen = time.time()
            stats = session.stats
            entry = journal.SyncEntry(
                device,
                started,
                state.last_seen,
                stats.records_out,
                stats.changed_here,
                "failed" if error else "ok",
                error,
            )
            if not self.peer.closed:
                journal.record_session(self.peer, entry)

    async def _handle_sync(self, request: web.Request) -> web.StreamResponse:
        fingerprint = tls.peer_fingerprint(
            request.transport.get_extra_info("ssl_object") if request.transport else None
        )
        if self._known(fingerprint) is None:
            log.warning("refused a sync connection from %s: not enrolled", request.remote)
            raise web.HTTPForbidden(text="not an enrolled device of this company")
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="shutting down")
        channel = await accept(request)
        try:
            await self._run_session(channel, fingerprint, request.remote)
        except SessionRefused as exc:
            log.warning("refused a session from %s: %s", request.remote, exc)
        response: web.StreamResponse = channel.ws  # type: ignore[assignment]
        return response

    def dial(self, address: str) -> None:
        """Keep a session to ``host:port`` up, reconnecting with backoff."""
        if address not in self._dialers:
            self._dialers[address] = asyncio.ensure_future(self._dial_loop(address))

    async def _dial_loop(self, address: str) -> None:
        backoff = BACKOFF_START
        url = f"https://{address}{SYNC_PATH}"
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._dial_once(url, address)
            except (ChannelClosed, SessionRefused, RoamsyncError) as exc:
                log.info("sync with %s ended: %s", address, exc)
                self._note_failure(address, str(exc))
            if time.monotonic() - started > STABLE_SESSION:
                backoff = BACKOFF_START
            await asyncio.sleep(random.uniform(0, backoff))  # full jitter
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _dial_once(self, url: str, address: str) -> None:
        assert self._http is not None
        assert self._client_ssl is not None
        channel = await connect(self._http, url, self._client_ssl)
        fingerprint = tls.peer_fingerprint(channel.ws.get_extra_info("ssl_object"))
        if self._known(fingerprint) is None:
            await channel.close()
            raise SessionRefused(f"{address} is not an enrolled device of this company")
        await self._run_session(channel, fingerprint, address)

    def _progress(self, session: Session, done: int, total: int) -> None:
        if self.on_progress is not None and session.remote is not None:
            self.on_progress(session.remote.device, done, total)

    def _note_failure(self, address: str, error: str) -> None:
        """A connection attempt that failed, for the sync log and status."""
        now = time.time()
        self.last_error = f"{address}: {error}"
        if not self.peer.closed:
            journal.record_session(
                self.peer, journal.SyncEntry(address, now, now, 0, 0, "failed", error)
            )

    # -- check-out and check-in ------------------------------------------------------------

    def sessions(self) -> list[Session]:
        return [s.session for s in self.states.values() if s.session is not None]

    async def wait_synced(self, within: float) -> list[str]:
        """Wait until some peer is connected and every session is caught up both ways;
        the devices synced with. NodeError if no peer could be reached in time."""
        try:
            async with asyncio.timeout(within):
                while not self._all_caught_up():  # noqa: ASYNC110 (several sessions' state)
                    await asyncio.sleep(0.05)
        except TimeoutError:
            reached = ", ".join(s.remote_device for s in self.sessions()) or "no peer"
            raise NodeError(f"could not finish syncing within {within:.0f} s ({reached})") from None
        return [s.remote_device for s in self.sessions()]

    def _all_caught_up(self) -> bool:
        sessions = self.sessions()
        return bool(sessions) and all(s.caught_up() for s in sessions)

    async def check_out(self, within: float = 30.0, force: bool = False) -> dict[str, Any]:
        """Go offline: a final sync, the offline flag for everyone to see, then no syncing."""
        if self.config.offline:
            raise UsageError(f"{self.config.name} is working offline already")
        synced: list[str] = []
        try:
            synced = await self.wait_synced(within)
        except NodeError:
            if not force:
                raise
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        await self._set_status(offline=True, since=since)
        if synced:
            await self.wait_synced(within)  # so main and the others see the flag
        self.config.offline, self.config.offline_since = True, since
        save_config(self.folder, self.config)
        await self._stop_network()
        return {"offline_since": since, "synced_with": synced}

    async def check_in(self, policy: str = "central", within: float = 30.0) -> dict[str, Any]:
        """Come back: sync, settle this device's conflicts by ``policy``, clear the flag."""
        if not self.config.offline:
            raise UsageError(f"{self.config.name} is not working offline")
        self.config.offline, self.config.offline_since = False, ""
        save_config(self.folder, self.config)
        await self._start_network()
        synced = await self.wait_synced(within)
        settled = await self.peer.apply_policy(policy)
        await self._set_status(offline=False, since="")
        await self.wait_synced(within)
        sent = sum(s.stats.records_out for s in self.sessions())
        received = sum(s.stats.changed_here for s in self.sessions())
        mine = [
            c
            for c in self.peer.conflicts()
            if any(v["device"] == self.peer.device for v in c.values)
        ]
        return {
            "synced_with": synced,
            "uploaded": sent,
            "downloaded": received,
            "settled": settled,
            "policy": policy,
            "conflicts": [c.__dict__ for c in mine],
        }

    async def _set_status(self, *, offline: bool, since: str) -> None:
        record = f"status-{self.peer.device}"
        fields = {"offline": offline, "since": since or None}
        if self.peer.store.state(record) is None:
            await self.peer.create("device_status", fields, record_id=record)
        else:
            await self.peer.update("device_status", record, fields)

    # -- discovery -----------------------------------------------------------------------

    async def _start_discovery(self) -> None:
        self._discovery = Discovery(
            device=self.peer.device,
            company=self.config.company,
            port=self.port,
            on_found=self._found,
            on_gone=self._gone,
            interfaces=(self.config.listen,),
            announce_address=self.config.listen,
        )
        await self._discovery.start()

    def _found(self, info: PeerInfo) -> None:
        # One connection per pair: the lower device id dials, the other waits.
        if self.peer.device < info.device:
            self.dial(f"{info.host}:{info.port}")

    def _gone(self, device: str) -> None:
        log.info("discovery: %s is gone", device)

    # -- enrolment (main) ----------------------------------------------------------------

    async def _handle_join(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 16)
        await ws.prepare(request)
        try:
            msg = await asyncio.wait_for(ws.receive_str(), 30)
            reply = await self._join(orjson.loads(msg))
        except company.CriteriaError as exc:
            reply = {"error": str(exc), "missing": exc.missing}
        except (registry.InvitationError, UsageError) as exc:
            reply = {"error": str(exc)}
        except (TimeoutError, TypeError, ValueError, KeyError, orjson.JSONDecodeError) as exc:
            reply = {"error": f"malformed join request: {exc}"}
        await ws.send_str(orjson.dumps(reply).decode())
        await ws.close()
        return ws

    async def _join(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.peer.role != "main":
            raise UsageError("only the main device enrols devices")
        company.check_criteria(self.peer)
        role = registry.redeem(self.peer, str(body["invitation"]), str(body["secret"]))
        cert = str(body["cert"])
        entry = await registry.enroll(
            self.peer, str(body["name"]), role, tls.fingerprint_of(cert), cert
        )
        log.info("enrolled %s (%s) as %s", entry.name, entry.device, role)
        return {
            "company": self.config.company,
            "company_name": self.config.company_name,
            "role": role,
            "main_device": self.peer.device,
            "main_fingerprint": self.identity.fingerprint,
            "trusted": [e.cert for e in registry.devices(self.peer) if e.active],
        }
