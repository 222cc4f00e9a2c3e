"""A compromised enrolled device on the wire: the adversary suite's harness.

Mallory holds a stolen device's data directory (its key, certificate and
store), crafts record updates with the project's own classes
(:class:`~roamsync.peer.record.RecordDoc`), and sends them in ``Changes``
frames straight to a real node over mutual TLS, as the stolen device: the
node's TLS, registry and hello checks all pass, so only what the node does
with the updates stands between Mallory and the company's data.

>>> mallory = await Mallory.steal(company, laptop)           # doctest: +SKIP
>>> update = mallory.write_as(record, main, "main", {...})    # doctest: +SKIP
>>> await mallory.send(hq, [(record, update)])               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from roamsync.peer import Peer
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import TLS_DIR, load_config
from roamsync.peer.record import RecordDoc, signed_claim
from roamsync.peer.record.signing import identity, signed_slot
from roamsync.transport import tls
from roamsync.transport.protocol import Ack, Changes, Hello, Message, decode, encode
from roamsync.transport.websocket import SYNC_PATH, WebSocketChannel, connect

from conftest import Company

LIMIT = 10.0  # seconds for any exchange with a node


@dataclass
class Mallory:
    peer: Peer  # the stolen store, opened in this process
    identity: tls.Identity
    company: str
    trusted: list[str]

    @classmethod
    async def steal(cls, company: Company, node: Node) -> Mallory:
        """Stop ``node`` and take its data directory."""
        folder, identity = node.folder, node.identity
        await company.stop_one(node)
        config = load_config(folder)
        peer = await Peer.open(folder, device=config.device, role=config.role, label=config.name)
        return cls(peer, identity, config.company, config.trusted)

    @classmethod
    async def open(cls, folder: Path) -> Mallory:
        """Take an enrolled device's data directory that no daemon runs (the chaos run's)."""
        config = load_config(folder)
        peer = await Peer.open(folder, device=config.device, role=config.role, label=config.name)
        identity = tls.load_identity(folder / TLS_DIR)
        return cls(peer, identity, config.company, config.trusted)

    @property
    def device(self) -> str:
        return self.peer.device

    def doc(self, record_id: str, state: bytes | None = None) -> RecordDoc:
        """The stolen store's document of a record (a copy: the store is not changed), or
        the one ``state`` holds (read from another replica's store)."""
        state = state or self.peer.store.state(record_id)
        assert state is not None, f"the stolen store has no record {record_id}"
        return self.peer.cache.load(state)

    def forge(self, record_id: str, edit: Callable[[RecordDoc], None]) -> bytes:
        """The record's whole state after ``edit`` (any change to the document)."""
        rec = self.doc(record_id)
        edit(rec)
        return rec.doc.get_update()

    def _claims(self, client: int, who: str, role: str) -> dict[int, str]:
        """Claims of ``client`` and its notes lane in ``who``'s name, signed with the stolen key."""
        sign = tls.signer(self.identity)
        return {c: signed_claim(who, role, c, sign) for c in (client, client + 1)}

    def write_as(
        self,
        record_id: str,
        device: str,
        role: str,
        values: dict[str, object],
        *,
        claim: tuple[str, str] | None = None,
        t: int | None = None,
        state: bytes | None = None,
    ) -> bytes:
        """The record's state after writing ``values`` as ``device`` with ``role``, with
        this store's Yjs client id, its claim (as ``claim``: device and role, default the
        writer) and the slot signed with the stolen key: the best a forger can do with
        the project's classes. ``t``: the write's time (default: now); ``state``: the
        record as another replica holds it (default: the stolen store's)."""
        rec = self.doc(record_id, state)
        who, as_role = claim or (device, role)
        claims = self._claims(rec.doc.client_id, who, as_role)
        t = self.peer.clock.now() if t is None else t
        sign = tls.signer(self.identity)
        with rec.doc.transaction():
            rec.claim_client(who, as_role, claims)
            rec.put(device, role, t, values, signed=(record_id, sign))  # type: ignore[arg-type]
        return rec.doc.get_update()

    def raw_slot(self, record_id: str, fields: dict[str, object]) -> bytes:
        """The record's state with the stolen device's own slot set to ``fields`` as
        given (field -> [value, t, seen, policy, closed]), claimed and signed: a slot no
        honest write makes (a forged version vector, a forged conflict)."""
        rec = self.doc(record_id)
        client = rec.doc.client_id
        sign = tls.signer(self.identity)
        with rec.doc.transaction():
            rec.claim_client(
                self.device, self.peer.role, self._claims(client, self.device, self.peer.role)
            )
            at = (client, rec.state_vector().get(client, 0))
            body = orjson.dumps({"r": self.peer.role, "f": fields}).decode()
            rec.slots[self.device] = signed_slot(
                body, record_id, identity(rec._meta()), self.device, at, sign
            )
        return rec.doc.get_update()

    def create_as(
        self, record_id: str, module: str, device: str, role: str, values: dict[str, object]
    ) -> bytes:
        """A new record's state, created as ``device`` (see :meth:`write_as`)."""
        rec = self.peer.cache.load()
        claims = self._claims(rec.doc.client_id, device, role)
        t = self.peer.clock.now()
        sign = tls.signer(self.identity)
        with rec.doc.transaction():
            rec.init(module, device, role, t)
            rec.claim_client(device, role, claims)
            rec.put(device, role, t, values, signed=(record_id, sign))  # type: ignore[arg-type]
        return rec.doc.get_update()

    async def send(self, target: Node | int, items: list[tuple[str, bytes]]) -> int:
        """Send ``items`` in one ``Changes`` frame to ``target`` (a node, or the sync port
        of a daemon) as the stolen device; the position the node acknowledged (it stored
        the frame), 0 if it did not."""
        port = target if isinstance(target, int) else target.port
        context = tls.client_context(self.identity, self.trusted)
        async with aiohttp.ClientSession() as http:
            channel = await connect(http, f"https://127.0.0.1:{port}{SYNC_PATH}", context)
            try:
                async with asyncio.timeout(LIMIT):
                    return await self._exchange(channel, items)
            finally:
                await channel.close()

    async def _exchange(self, channel: WebSocketChannel, items: list[tuple[str, bytes]]) -> int:
        hello = Hello(self.device, self.peer.role, self.company, store=self.peer.store_id)
        await channel.send(encode(hello))
        answer = await _recv(channel)
        assert isinstance(answer, Hello), f"the node refused the session: {answer}"
        upto = self.peer.last_seq() + 1_000_000  # past anything the node has seen from us
        await channel.send(encode(Changes(upto, tuple(items))))
        while True:  # the node also sends its own feed: read past it to the ack
            msg = await _recv(channel)
            if isinstance(msg, Ack):
                return msg.upto

    async def close(self) -> None:
        await self.peer.close()


async def _recv(channel: WebSocketChannel) -> Message:
    return decode(await channel.recv())
