"""Sync two peers in one process, through the same protocol messages the network carries.

>>> await sync(office, laptop)   # doctest: +SKIP
SyncReport(rounds=2, a_to_b=12, b_to_a=3)

Each direction sends the records changed since the receiver's last
acknowledged position in the sender's change feed, in batches; the receiver
stores a batch durably, then acknowledges it. Rounds repeat until a round
changes nothing, so numbers that main assigns during the sync reach the
other side in the same call.
"""

from __future__ import annotations

from dataclasses import dataclass

from roamsync.peer import Peer
from roamsync.schema import ProtocolError
from roamsync.transport.protocol import Ack, Changes, Hello, decode, encode, negotiate

MAX_ROUNDS = 8


@dataclass(frozen=True)
class SyncReport:
    rounds: int
    a_to_b: int  # records that changed on b
    b_to_a: int  # records that changed on a


def _carry(msg: Hello | Changes | Ack) -> Hello | Changes | Ack:
    """Send a message through the wire codec, as a network channel would."""
    out = decode(encode(msg))
    if not isinstance(out, type(msg)):
        raise ProtocolError(f"expected {type(msg).__name__}, got {type(out).__name__}")
    return out


async def _handshake(a: Peer, b: Peer) -> None:
    for src, dst in ((a, b), (b, a)):
        hello = _carry(Hello(src.device, src.role, store=src.store_id))
        assert isinstance(hello, Hello)
        negotiate(Hello(src.device, src.role).versions, hello.versions)
        dst.meet(hello.device, hello.store)


async def push(src: Peer, dst: Peer, batch: int = 500) -> int:
    """Send ``dst`` what changed on ``src`` since ``dst``'s checkpoint; records changed on dst."""
    changed = 0
    after = src.checkpoint(dst.device)
    while True:
        items, upto = src.feed(dst.device, after, batch)
        if upto == after:
            return changed
        msg = _carry(Changes(upto, tuple((rid, state) for _, rid, state in items)))
        assert isinstance(msg, Changes)
        result = await dst.apply_remote(msg.items, source=src.device)
        changed += result.changed
        ack = _carry(Ack(msg.upto))
        assert isinstance(ack, Ack)
        src.set_checkpoint(dst.device, ack.upto)
        after = ack.upto


async def sync(a: Peer, b: Peer, batch: int = 500) -> SyncReport:
    """One full two-way sync between two open peers."""
    await _handshake(a, b)
    total_ab = total_ba = 0
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        ab = await push(a, b, batch)
        ba = await push(b, a, batch)
        total_ab += ab
        total_ba += ba
        if ab == 0 and ba == 0:
            break
    return SyncReport(rounds, total_ab, total_ba)
