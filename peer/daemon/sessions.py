"""The node's sync sessions: one per remote device, and what the node knows of each.

:meth:`Sessions.run` runs a session over a channel the server accepted or the
dialer opened, keeps :class:`PeerState` (for ``status`` and ``devices``), and
when the session ends writes it to the sync log and adds its traffic to the
metrics' totals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from roamsync.peer.daemon import journal
from roamsync.peer.daemon.trust import Trust
from roamsync.peer.replica import Peer
from roamsync.transport.session import FRAME_BUDGET, Session, SessionStats
from roamsync.transport.websocket import WebSocketChannel

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # device, records received, records expected


@dataclass
class PeerState:
    """What the node knows of one remote device, for status and devices output."""

    device: str
    session: Session | None = None
    connected_since: float | None = None
    last_seen: float | None = None
    last_error: str | None = None
    address: str | None = None


class Sessions:
    def __init__(self, peer: Peer, trust: Trust, company: str, anti_entropy: float) -> None:
        self.peer = peer
        self.trust = trust
        self.company = company
        self.anti_entropy = anti_entropy
        self.states: dict[str, PeerState] = {}
        self.channels: set[WebSocketChannel] = set()  # open, those in their handshake too
        self.ended = SessionStats()  # the traffic of every session that ended
        self.last_error: str | None = None
        self.frame_budget = FRAME_BUDGET  # bytes of record state per Changes frame we send
        self.on_progress: Progress | None = None

    def running(self) -> list[Session]:
        return [s.session for s in self.states.values() if s.session is not None]

    def is_running(self, device: str) -> bool:
        state = self.states.get(device)
        return state is not None and state.session is not None

    async def until_ended(self, device: str, poll: float = 1.0) -> None:
        """Wait while a session with ``device`` runs."""
        while self.is_running(device):  # noqa: ASYNC110 (sessions end in several ways)
            await asyncio.sleep(poll)

    def traffic(self) -> SessionStats:
        """All traffic so far: ended sessions plus the running ones."""
        total = SessionStats()
        total.add(self.ended)
        for session in self.running():
            total.add(session.stats)
        return total

    async def run(
        self, channel: WebSocketChannel, fingerprint: str | None, address: str | None
    ) -> None:
        """Run a session over ``channel`` until it ends; ``SessionRefused`` if its hello is."""
        self.channels.add(channel)
        try:
            await self._run(channel, fingerprint, address)
        finally:
            self.channels.discard(channel)

    async def _run(
        self, channel: WebSocketChannel, fingerprint: str | None, address: str | None
    ) -> None:
        session = Session(
            self.peer,
            channel,
            company=self.company,
            anti_entropy=self.anti_entropy,
            frame_budget=self.frame_budget,
            authorize=self.trust.authorizer(fingerprint, self.is_running),
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
            self.ended.add(session.stats)  # same step: never counted twice
            state.last_seen = time.time()
            self._log(device, started, state.last_seen, session.stats, error)

    def _log(
        self, device: str, started: float, ended: float, stats: SessionStats, error: str | None
    ) -> None:
        if self.peer.closed:
            return
        status = "failed" if error else "ok"
        entry = journal.SyncEntry(
            device, started, ended, stats.records_out, stats.changed_here, status, error
        )
        journal.record_session(self.peer, entry)

    def failed(self, address: str, error: str) -> None:
        """A connection attempt that failed, for the sync log and status."""
        now = time.time()
        self.last_error = f"{address}: {error}"
        if not self.peer.closed:
            entry = journal.SyncEntry(address, now, now, 0, 0, "failed", error)
            journal.record_session(self.peer, entry)

    def close_revoked(self, devices: set[str]) -> list[WebSocketChannel]:
        """The channels of sessions with these (revoked) devices, for the caller to close."""
        channels = []
        for device in devices & set(self.states):
            session = self.states[device].session
            if session is not None and isinstance(session.channel, WebSocketChannel):
                log.warning("closing the session with revoked device %s", device)
                channels.append(session.channel)
        return channels

    async def close_all(self) -> None:
        """Close every session's channel, those still in their handshake too: the server
        would otherwise wait for their handlers (up to a minute) before it stops."""
        results = await asyncio.gather(
            *(c.close() for c in list(self.channels)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.warning("closing a session's channel failed: %s", result)

    def _progress(self, session: Session, done: int, total: int) -> None:
        if self.on_progress is not None and session.remote is not None:
            self.on_progress(session.remote.device, done, total)
