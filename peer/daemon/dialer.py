"""Dialing peers: a session kept up to each address, redialed with backoff and jitter.

Each address gets a loop: connect and run a session until it ends, then wait a
random delay in ``[0, backoff]`` (full jitter) and dial again; the backoff
doubles up to ``BACKOFF_MAX`` and starts over after a session that lasted. The
loops run under a :class:`~roamsync.peer.daemon.supervisor.Supervisor`: one
that fails unexpectedly is logged and restarted, never lost.

Addresses come from the configuration (``--peer``) and from discovery; one that
discovery reports gone is no longer redialed once its session ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from roamsync.peer.daemon.supervisor import BACKOFF_MAX, BACKOFF_START, Supervisor, jittered
from roamsync.schema import NodeError, RoamsyncError

log = logging.getLogger(__name__)

STABLE_SESSION = 10.0  # a session that lasted this long resets the backoff

Connect = Callable[[str], Awaitable[None]]  # dial an address and run its session to the end
Failed = Callable[[str, str], None]  # an address, and why its attempt failed


class Dialer:
    def __init__(self, connect: Connect, failed: Failed, supervisor: Supervisor) -> None:
        self._connect = connect
        self._failed = failed
        self._supervisor = supervisor
        self._wanted: set[str] = set()
        self._busy: set[str] = set()  # addresses with a connection attempt or session running
        self.started = False

    def start(self) -> None:
        self.started = True

    def dial(self, address: str) -> None:
        """Keep a session to ``host:port`` up, reconnecting with backoff."""
        if not self.started:
            raise NodeError(f"cannot dial {address}: the node is not started (Node.start)")
        self._wanted.add(address)
        self._supervisor.spawn(_task(address), lambda: self._keep(address))

    async def forget(self, address: str) -> None:
        """Stop redialing ``address``; a session running there may finish."""
        self._wanted.discard(address)
        if address not in self._busy:
            await self._supervisor.cancel(_task(address))

    @property
    def addresses(self) -> set[str]:
        """The addresses being kept up."""
        return set(self._wanted)

    async def stop(self) -> None:
        self.started = False
        addresses, self._wanted = self._wanted, set()
        for address in addresses:
            await self._supervisor.cancel(_task(address))

    async def _keep(self, address: str) -> None:
        backoff = BACKOFF_START
        while address in self._wanted:
            started = time.monotonic()
            self._busy.add(address)
            try:
                await self._connect(address)
            except RoamsyncError as exc:
                log.info("sync with %s ended: %s", address, exc)
                self._failed(address, str(exc))
            finally:
                self._busy.discard(address)
            if time.monotonic() - started > STABLE_SESSION:
                backoff = BACKOFF_START
            await asyncio.sleep(jittered(backoff))
            backoff = min(backoff * 2, BACKOFF_MAX)


def _task(address: str) -> str:
    return f"dial {address}"
