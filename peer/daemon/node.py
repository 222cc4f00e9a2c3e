"""The running peer: the replica plus its network side, put together.

A node listens for peers (mutual TLS websocket at ``/sync``, and ``/join`` for
enrolment on main), dials the peers it knows (``--peer`` addresses and those
zeroconf discovers for its company) and keeps one sync session per remote
device. The parts, each with one job:

* :class:`~.trust.Trust`: TLS trust in step with the registry, who may sync;
* :class:`~.sessions.Sessions`: the running sessions and what is known of each peer;
* :class:`~.dialer.Dialer`: a session kept up to each address, with backoff and jitter;
* :class:`~.supervisor.Supervisor`: background tasks restarted if they fail;
* :class:`~.join.JoinServer`: enrolment (main);
* :mod:`.checkout`: working offline (check-out, check-in);
* :mod:`.journal`: the sync log and history; :mod:`.metrics`: ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from roamsync.peer.daemon import journal
from roamsync.peer.daemon.dialer import Dialer
from roamsync.peer.daemon.join import JoinServer
from roamsync.peer.daemon.sessions import Sessions
from roamsync.peer.daemon.supervisor import Supervisor
from roamsync.peer.daemon.trust import RUNNING_ALREADY, Trust
from roamsync.peer.org import registry
from roamsync.peer.org.config import TLS_DIR, Config, load_config
from roamsync.peer.org.enrolment import JOIN_PATH
from roamsync.peer.replica import Peer
from roamsync.peer.replica.seals import SEAL_MIN
from roamsync.peer.store.files import DirectoryLock
from roamsync.schema import NodeError, SessionRefused, UsageError
from roamsync.transport import tls
from roamsync.transport.discovery import Discovery, PeerInfo
from roamsync.transport.websocket import SYNC_PATH, accept, connect

log = logging.getLogger(__name__)

REGISTRY_WATCH = "registry"
DISCONNECTED = (
    "main disconnected this device: it no longer syncs, and edits made here will not"
    " reach the company (ask main to invite it again)"
)
SEALER = "sealer"
TELL_REVOKED = 2.0  # seconds a disconnected device has to acknowledge its revocation
INDEXER = "indexer"
INDEX_CHUNK = 2000  # merged records indexed for search at a time, when merges pause
SEAL_EVERY = 5.0  # seconds between main's seals (seals.py), when it has enough to seal


@dataclass
class Node:
    folder: Path
    config: Config
    peer: Peer
    identity: tls.Identity
    lock: DirectoryLock
    trust: Trust
    sessions: Sessions
    supervisor: Supervisor = field(default_factory=Supervisor)
    port: int = 0
    _dialer: Dialer | None = None
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None
    _discovery: Discovery | None = None
    _discovered: dict[str, str] = field(default_factory=dict)  # device -> address dialed
    started: bool = False
    _stopping: bool = False
    _discover: bool = True

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
            options.setdefault("signer", tls.signer(identity))
            peer = await Peer.open(
                folder, device=config.device, role=config.role, label=config.name, **options
            )
            peer.verify_with(registry.RegistryKeys(peer, config.main_device, config.trusted))
        except BaseException:
            lock.release()
            raise
        trust = Trust(peer, config, identity)
        sessions = Sessions(peer, trust, config.company, config.anti_entropy)
        return cls(folder, config, peer, identity, lock, trust, sessions)

    @property
    def dialer(self) -> Dialer:
        if self._dialer is None:
            self._dialer = Dialer(self._connect, self.sessions.failed, self.supervisor)
        return self._dialer

    @property
    def serving(self) -> bool:
        """Whether it listens and syncs now (started, and not working offline)."""
        return self._runner is not None

    @property
    def last_error(self) -> str | None:
        """The last failed connection attempt, ``address: error``."""
        return self.sessions.last_error

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, *, discovery: bool | None = None) -> None:
        """Go online: listen, dial, discover; a checked-out device stays offline."""
        if self.config.sample:
            raise NodeError("this is a sample company: it never syncs")
        if self.started:
            raise NodeError("the node is started already")
        self.started = True
        self._discover = self.config.discovery if discovery is None else discovery
        self.sessions.anti_entropy = self.config.anti_entropy
        self.trust.refresh()
        self._http = aiohttp.ClientSession()
        self.supervisor.spawn(REGISTRY_WATCH, self._watch_registry)
        if self.peer.role == "main":
            self.supervisor.spawn(SEALER, self._seal)
        self.supervisor.spawn(INDEXER, self._index)
        journal.prune_history(self.peer)
        if self.config.offline:
            log.info("%s is working offline since %s", self.config.name, self.config.offline_since)
            return
        await self.start_network()

    async def ensure_started(self) -> None:
        """:meth:`start` unless it was (the command line opens a node it may then start)."""
        if not self.started:
            await self.start()

    @property
    def revoked(self) -> bool:
        """Whether main disconnected this device (its registry entry says revoked)."""
        mine = self.identity.fingerprint
        return any(e.fingerprint == mine and not e.active for e in registry.devices(self.peer))

    async def start_network(self) -> None:
        """Listen, dial the configured peers and discover others (not once main has
        disconnected this device: no peer accepts it, and its edits stay here)."""
        if self.revoked:
            log.error(DISCONNECTED)
            return
        app = web.Application()
        app.router.add_get(SYNC_PATH, self._handle_sync)
        app.router.add_post(JOIN_PATH, JoinServer(self.peer, self.config, self.identity).handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        listen, port = self.config.listen, self.config.port
        site = web.TCPSite(self._runner, listen, port, ssl_context=self.trust.server_ssl)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise NodeError(f"cannot listen on {listen}:{port}: {exc}") from exc
        self.port = self._runner.addresses[0][1]
        log.info("%s (%s) listening on %s:%d", self.config.name, self.peer.role, listen, self.port)
        self._stopping = False
        self.dialer.start()
        for address in self.config.peers:
            self.dialer.dial(address)
        if self._discover:
            await self._start_discovery()

    async def stop_network(self) -> None:
        """Stop discovery, every session, the dialers and the server."""
        self._stopping = True  # from here on, no new session starts
        if self._discovery is not None:
            await self._discovery.stop()
            self._discovery = None
        self._discovered.clear()
        await self.sessions.close_all()
        await self.dialer.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        """Go offline and close the replica; the directory is free again."""
        try:
            await self.stop_network()
            await self.supervisor.stop()
            if self._http is not None:
                await self._http.close()
        finally:
            await self.peer.close()
            self.lock.release()

    def dial(self, address: str) -> None:
        """Keep a session to ``host:port`` up (NodeError before :meth:`start`)."""
        self.dialer.dial(address)

    # -- sessions ------------------------------------------------------------------------

    async def _watch_registry(self) -> None:
        changed = self.peer.listen()
        try:
            while True:
                await changed.wait()
                changed.clear()
                revoked = self.trust.refresh()
                if revoked and self.peer.role == "main":
                    await self._tell_revoked(revoked)
                for channel in self.sessions.close_revoked(revoked):
                    await channel.close()
                if self.serving and self.revoked:  # main disconnected this very device
                    log.error(DISCONNECTED)
                    await self.stop_network()
        finally:
            self.peer.unlisten(changed)

    async def _tell_revoked(self, devices: set[str]) -> None:
        """Before closing their sessions, let the disconnected devices acknowledge the
        registry change (at most TELL_REVOKED seconds): each then knows it was
        disconnected, says so and stops dialling."""
        target = self.peer.last_seq()

        def told() -> bool:
            return all(
                self.peer.checkpoint(d) >= target for d in devices if self.sessions.is_running(d)
            )

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TELL_REVOKED):
                while not told():  # noqa: ASYNC110 (acks come through several sessions)
                    await asyncio.sleep(0.02)

    async def _seal(self) -> None:
        """Main: seal what it signed or verified, every few seconds (seals.py)."""
        while True:
            await asyncio.sleep(SEAL_EVERY)
            await self.peer.seal(SEAL_MIN)

    async def _index(self) -> None:
        """Index what merges queued for search once they pause (a search indexes the
        rest first, so results never lag; this only spares the first search the wait)."""
        while True:
            await asyncio.sleep(SEAL_EVERY / 5)
            self._release_numbering()
            for _ in range(10_000):  # a chunk at a time, letting sessions and the API run
                if self.peer.merging() or not self.peer.records.index_pending(INDEX_CHUNK):
                    break
                await asyncio.sleep(0)

    def _release_numbering(self) -> None:
        """A restored store's numbering hold: each device it waits for is released once a
        session with it has caught up both ways (peer/replica/numbering.py)."""
        held = self.peer.numbering.held()
        for session in self.sessions.running() if held else []:
            device = session.remote_device
            caught_up = device in held and session.caught_up()
            if caught_up and self.peer.numbering.synced_with(device):
                log.info("numbering resumes: every device has synced since the restore")

    async def _handle_sync(self, request: web.Request) -> web.StreamResponse:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        fingerprint = tls.peer_fingerprint(ssl_object)
        if self.trust.known(fingerprint) is None:
            log.warning("refused a sync connection from %s: not enrolled", request.remote)
            raise web.HTTPForbidden(text="not an enrolled device of this company")
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="shutting down")
        channel = await accept(request)
        try:
            await self.sessions.run(channel, fingerprint, request.remote)
        except SessionRefused as exc:
            level = logging.DEBUG if RUNNING_ALREADY in str(exc) else logging.WARNING
            log.log(level, "refused a session from %s: %s", request.remote, exc)
        response: web.StreamResponse = channel.ws  # type: ignore[assignment]
        return response

    async def _connect(self, address: str) -> None:
        """Dial ``address`` and run the session there to its end (the dialer's job)."""
        if self._http is None:
            raise NodeError("the node is not started")
        url = f"https://{address}{SYNC_PATH}"
        channel = await connect(self._http, url, self.trust.client_ssl)
        fingerprint = tls.peer_fingerprint(channel.ws.get_extra_info("ssl_object"))
        entry = self.trust.known(fingerprint)
        if entry is None:
            await channel.close()
            raise SessionRefused(f"{address} is not an enrolled device of this company")
        if self.sessions.is_running(entry.device):  # it dialled us first: one session
            await channel.close()
            await self.sessions.until_ended(entry.device)
            return
        try:
            await self.sessions.run(channel, fingerprint, address)
        except SessionRefused as exc:
            if RUNNING_ALREADY not in str(exc):
                raise
            # Both dialled at once and it kept the other connection: no failure.
            log.debug("%s syncs with us over its own connection", address)

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
        if self.peer.device < info.device and not self._stopping:
            address = f"{info.host}:{info.port}"
            old = self._discovered.get(info.device)
            if old is not None and old != address:
                self._forget(old)  # it moved: its old address is dead
            self._discovered[info.device] = address
            self.dial(address)

    def _gone(self, device: str) -> None:
        log.info("discovery: %s is gone", device)
        address = self._discovered.pop(device, None)
        if address is not None:
            self._forget(address)

    def _forget(self, address: str) -> None:
        """Stop redialing an address discovery gave, unless it is configured."""
        if address not in self.config.peers and address not in self._discovered.values():
            self.supervisor.spawn(f"forget {address}", lambda: self.dialer.forget(address))
