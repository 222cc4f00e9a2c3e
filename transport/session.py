"""One sync session between the local peer and one remote peer, over any channel.

After the hellos, these loops run until the channel closes:

* the **sender** reads the local change feed from the remote's checkpoint and
  sends ``Changes`` frames, at most ``window`` of them unacknowledged (so a
  slow peer holds back the sender instead of filling memory). When it has
  sent everything it waits for the next local change, which it then pushes
  at once, or for the anti-entropy tick, when it reads the feed again from
  the last acknowledged position;
* the **receiver** reads frames: an ``Ack`` moves the remote's checkpoint;
  ``Changes`` and ``Pending`` go in order to the **applier**, which merges each
  ``Changes`` frame (the peer stores it durably), then has its ``Ack`` sent by
  a fourth loop, so that receiving never waits on sending. A large frame is
  read by the peer's worker process as soon as it arrives, so that reading it
  overlaps storing the frame before (``Peer.prepare``).

A frame that does not decode is logged and dropped; after ``MAX_BAD_FRAMES``
of them the session ends. Nothing from a bad frame is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from roamsync.schema import ChannelClosed, ProtocolError, SessionRefused
from roamsync.transport.channel import Channel
from roamsync.transport.protocol import (
    MAX_FRAME,
    MAX_ITEMS,
    VERSION,
    Ack,
    Changes,
    Error,
    Hello,
    Message,
    Pending,
    decode,
    encode,
    negotiate,
)
from roamsync.transport.replica import FeedItem, Prepared, Replica

log = logging.getLogger(__name__)

MAX_BAD_FRAMES = 10
MAX_UNSENT_ACKS = 64  # far above any window: a peer past it ignores flow control
FRAME_BUDGET = 1 << 20  # bytes of record state per Changes frame, roughly


def _describe(msg: Message) -> str:
    if isinstance(msg, Changes):
        return f"Changes(upto={msg.upto}, records={len(msg.items)})"
    return repr(msg)


@dataclass
class SessionStats:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    records_in: int = 0
    records_out: int = 0
    changed_here: int = 0
    bad_frames: int = 0
    anti_entropy_passes: int = 0
    skipped: int = 0  # records too large for any frame: not sent (logged)

    def add(self, other: SessionStats) -> None:
        """Sum another session's counts into these (totals over many sessions)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


ROOM = MAX_FRAME - 64  # bytes of records a Changes frame holds: its header is smaller


def _cost(record_id: str, state: bytes) -> int:
    """Bytes a record takes in a Changes frame, at most (id, two varuints, state)."""
    return len(state) + len(record_id) + 12


@dataclass
class _Outgoing:
    """The Changes frame being filled: its records, their size, the feed position it
    reaches (None: nothing to send), and the position the last frame sent reached."""

    sent: int
    items: list[tuple[str, bytes]] = field(default_factory=list)
    size: int = 0
    upto: int | None = None

    def add(self, seq: int, record_id: str, state: bytes) -> None:
        self.items.append((record_id, state))
        self.size += _cost(record_id, state)
        self.upto = seq

    def fits(self, record_id: str, state: bytes) -> bool:
        """Whether the record still fits in this frame under the transport's limit."""
        return self.size + _cost(record_id, state) <= ROOM

    def reach(self, position: int) -> None:
        """The feed was read up to ``position``: the next frame reaches it (it may be
        empty: the receiver then only moves our checkpoint past records it sent us)."""
        if position > self.sent:
            self.upto = position

    def full(self, budget: int) -> bool:
        return self.size >= budget or len(self.items) >= MAX_ITEMS

    def take(self) -> Changes:
        upto = self.upto
        assert upto is not None, "nothing to send"
        msg = Changes(upto, tuple(self.items))
        self.items, self.size, self.upto, self.sent = [], 0, None, upto
        return msg


@dataclass
class _Acks:
    """The acknowledgements the applier queued, in order, and the loop that sends them.

    A loop of its own so that receiving never waits on sending. Two peers that
    both have much to send would otherwise deadlock once their channel's buffers
    are full: each receiver waits to send an ack, behind its own Changes frames,
    which the other side no longer reads. The queue stays short: a sender waits
    for acks after ``window`` frames."""

    positions: deque[int] = field(default_factory=deque)
    queued: asyncio.Event = field(default_factory=asyncio.Event)
    sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def put(self, upto: int) -> None:
        """Queue an ack. Only a peer that sends far past its window while it does not
        read our acks makes this wait: we stop reading it, so our memory stays bounded."""
        self.positions.append(upto)
        self.queued.set()
        while len(self.positions) >= MAX_UNSENT_ACKS:
            self.sent.clear()
            await self.sent.wait()

    async def run(self, send: Callable[[Message], Awaitable[None]]) -> None:
        while True:
            await self.queued.wait()
            self.queued.clear()
            while self.positions:
                await send(Ack(self.positions.popleft()))
                self.sent.set()


@dataclass
class Session:
    """Sync ``peer`` with whoever is at the other end of ``channel``."""

    peer: Replica
    channel: Channel
    company: str = ""
    anti_entropy: float = 15.0
    window: int = 4  # Changes frames unacknowledged at most
    batch: int = 500  # records per read of the change feed
    frame_budget: int = FRAME_BUDGET
    authorize: Callable[[Hello], str | None] | None = None  # why to refuse, or None
    on_progress: Callable[[int, int], None] | None = None  # records received, expected
    stats: SessionStats = field(default_factory=SessionStats)
    remote_idle: asyncio.Event = field(default_factory=asyncio.Event)  # it sent us all it has
    activity: asyncio.Event = field(default_factory=asyncio.Event)  # set at each step: recheck
    _unapplied: int = 0  # frames received and not applied yet
    _expected: int = 0
    remote: Hello | None = None
    version: int = VERSION
    _inflight: int = 0
    _sent_upto: int = 0
    _acked: asyncio.Event = field(default_factory=asyncio.Event)
    _acks: _Acks = field(default_factory=lambda: _Acks())  # positions to acknowledge
    _sent_first: dict[str, int] = field(default_factory=dict)  # record id -> seq (first)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Run until the channel closes; :class:`SessionRefused` if the hello fails."""
        try:
            await self._handshake()
            self.ready.set()
            await self._run_loops()
        except ChannelClosed:
            pass
        finally:
            await self.channel.close()
            if not self.peer.closed:
                self.peer.flush_checkpoints()

    @property
    def remote_device(self) -> str:
        assert self.remote is not None, "no hello received yet"
        return self.remote.device

    async def _handshake(self) -> None:
        hello = Hello(self.peer.device, self.peer.role, self.company, store=self.peer.store_id)
        await self._send(hello)
        msg = await self._recv()
        if not isinstance(msg, Hello):
            raise SessionRefused(f"expected a hello, got {type(msg).__name__}")
        reason = self._refusal(hello, msg)
        if reason is not None:
            await self._send(Error(reason))
            raise SessionRefused(reason)
        self.version = negotiate(hello.versions, msg.versions)
        self.remote = msg
        self.peer.meet(msg.device, msg.store)
        log.info("session with %s (%s) started, protocol %d", msg.device, msg.role, self.version)
        log.debug(
            "checkpoints: we have sent %s up to %d", msg.device, self.peer.checkpoint(msg.device)
        )

    def _refusal(self, mine: Hello, theirs: Hello) -> str | None:
        if not set(mine.versions) & set(theirs.versions):
            return f"no common protocol version: {mine.versions} and {theirs.versions}"
        if theirs.company != self.company:
            return f"company {theirs.company!r} is not {self.company!r}"
        if theirs.device == self.peer.device:
            return "a peer cannot sync with itself"
        return self.authorize(theirs) if self.authorize is not None else None

    async def _run_loops(self) -> None:
        inbox: asyncio.Queue[tuple[Changes | Pending, Prepared | None]]
        inbox = asyncio.Queue(max(self.window, 1))
        loops = (
            self._send_loop(),
            self._recv_loop(inbox),
            self._apply_loop(inbox),
            self._ack_loop(),
        )
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ChannelClosed):
                    await task
            while not inbox.empty():  # frames received but never applied: nothing was acked
                _, prepared = inbox.get_nowait()
                if prepared is not None:
                    prepared.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    # -- sending -----------------------------------------------------------------

    async def _send(self, msg: Message) -> None:
        frame = encode(msg)
        await self.channel.send(frame)  # several loops send at once: a channel keeps frames whole
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("to %s: %s, %d bytes", self._who(), _describe(msg), len(frame))

    async def _send_loop(self) -> None:
        remote = self.remote_device
        changed = self.peer.listen()
        try:
            position = self._sent_upto = self.peer.checkpoint(remote)
            pending = self.peer.count_feed(remote, position)
            await self._send(Pending(pending))
            idle_told = pending == 0
            outgoing = _Outgoing(sent=position)
            await self._send_first(outgoing, position)
            while True:
                changed.clear()  # before reading, so a change made meanwhile wakes us again
                items, upto = self.peer.feed(remote, position, self.batch)
                if upto > position:
                    await self._fill(outgoing, items, upto)
                    position, idle_told = upto, False
                    if len(items) >= self.batch:
                        continue  # the feed has more: fill the frame before sending it
                if outgoing.upto is not None:
                    await self._send_frame(outgoing.take())
                    continue
                if not idle_told:
                    await self._send(Pending(0))
                    idle_told = True
                try:
                    # Not asyncio.wait_for: in Python 3.11 it swallows a cancellation that
                    # comes as the event is set, and this loop then outlives its session.
                    async with asyncio.timeout(self.anti_entropy):
                        await changed.wait()
                except TimeoutError:
                    position = outgoing.sent = self._anti_entropy(position)
        finally:
            self.peer.unlisten(changed)

    async def _send_first(self, outgoing: _Outgoing, position: int) -> None:
        """Send what the peer should have first (:meth:`Replica.first`) in frames that
        reach only ``position``, and wait until they are applied: the frames after them
        are read with what they bring."""
        first = self.peer.first(self.remote_device, position)
        if not first:
            return
        self._sent_first = {record_id: seq for seq, record_id, _ in first}
        await self._fill(outgoing, [(position, rid, state) for _, rid, state in first], position)
        if outgoing.items:
            await self._send_frame(outgoing.take())
        while self._inflight:
            self._acked.clear()
            await self._acked.wait()

    def _anti_entropy(self, position: int) -> int:
        """Periodic repair: with nothing in flight, read the feed again from the checkpoint."""
        self.stats.anti_entropy_passes += 1
        self.peer.flush_checkpoints()
        if self._inflight == 0:
            return min(position, self.peer.checkpoint(self.remote_device))
        return position

    async def _fill(self, outgoing: _Outgoing, items: Sequence[FeedItem], upto: int) -> None:
        """Add feed items read up to ``upto`` to the frame being filled, sending each
        frame that is full.

        Frames fill across feed reads, so a catch-up sends frames of about
        ``frame_budget`` bytes whatever the records' size: fewer frames, acks and
        commits on the receiver than one frame per read."""
        for seq, record_id, state in items:
            if self._sent_first.get(record_id) == seq:
                continue  # sent first, unchanged since
            if _cost(record_id, state) > ROOM:
                self._skip(record_id, len(state))
                continue
            if not outgoing.fits(record_id, state):
                await self._send_frame(outgoing.take())
            outgoing.add(seq, record_id, state)
            if outgoing.full(self.frame_budget):
                await self._send_frame(outgoing.take())
        outgoing.reach(upto)

    def _skip(self, record_id: str, size: int) -> None:
        """A record no frame holds (a store written before the size limits): the others
        flow on; the receiver would refuse it anyway."""
        self.stats.skipped += 1
        log.warning("not sending %s to %s: %d bytes, over a frame", record_id, self._who(), size)

    async def _send_frame(self, msg: Changes) -> None:
        while self._inflight >= self.window:
            self._acked.clear()
            await self._acked.wait()
        self._inflight += 1
        self._sent_upto = msg.upto
        await self._send(msg)
        self.stats.records_out += len(msg.items)

    # -- receiving -----------------------------------------------------------------

    async def _recv(self) -> Message | None:
        try:
            frame = await self.channel.recv()
            self.stats.frames_in += 1
            self.stats.bytes_in += len(frame)
            msg = decode(frame)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("from %s: %s, %d bytes", self._who(), _describe(msg), len(frame))
            return msg
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            log.warning("dropped a bad frame from %s: %s", self._who(), exc)
            if self.stats.bad_frames >= MAX_BAD_FRAMES:
                raise ChannelClosed(f"too many bad frames from {self._who()}") from exc
            return None

    def _who(self) -> str:
        return self.remote.device if self.remote is not None else "a peer"

    async def _recv_loop(
        self, inbox: asyncio.Queue[tuple[Changes | Pending, Prepared | None]]
    ) -> None:
        """Read frames; ``Changes`` and ``Pending`` go, in order, to :meth:`_apply_loop`.

        A large ``Changes`` frame starts being read by the peer's worker process as it
        comes in (``Peer.prepare``), while the frames before it are stored. The inbox
        holds at most ``window`` frames: beyond, this loop stops reading the channel.
        """
        remote = self.remote_device
        while True:
            msg = await self._recv()
            if isinstance(msg, Changes):
                self.remote_idle.clear()
                self._unapplied += 1
                await inbox.put((msg, self.peer.prepare(msg.items, remote)))
            elif isinstance(msg, Pending):
                self.peer.expect(msg.count)
                self._unapplied += 1
                await inbox.put((msg, None))  # it counts what comes after the frames before it
            elif isinstance(msg, Ack):
                self._on_ack(msg)
            elif isinstance(msg, Error):
                log.warning("%s ended the session: %s", remote, msg.message)
                raise ChannelClosed(msg.message)
            elif isinstance(msg, Hello):
                log.warning("dropped a second hello from %s", remote)

    async def _apply_loop(
        self, inbox: asyncio.Queue[tuple[Changes | Pending, Prepared | None]]
    ) -> None:
        """Merge each ``Changes`` frame (the peer stores it durably), then answer ``Ack``."""
        remote = self.remote_device
        while True:
            msg, prepared = await inbox.get()
            if isinstance(msg, Changes):
                result = await self.peer.apply_remote(msg.items, remote, prepared)
                self.stats.records_in += len(msg.items)
                self.stats.changed_here += result.changed
                await self._acks.put(msg.upto)
            else:
                self._expected = self.stats.records_in + msg.count
                if msg.count == 0:
                    self.remote_idle.set()
            self._unapplied -= 1
            self._progress()
            self.activity.set()

    async def _ack_loop(self) -> None:
        """Send the acknowledgements the applier queued, in order (:class:`_Acks`)."""
        await self._acks.run(self._send)

    def _progress(self) -> None:
        if self.on_progress is not None:
            done = self.stats.records_in
            self.on_progress(done, max(done, self._expected))

    def caught_up(self) -> bool:
        """Both ways: the remote has acknowledged all we have, and sent us all it has,
        and we have stored and acknowledged all of it."""
        if self.remote is None or not self.remote_idle.is_set() or self._inflight:
            return False
        if self._unapplied or self._acks.positions:
            return False
        return self.peer.checkpoint(self.remote_device) >= self.peer.last_seq()

    def _on_ack(self, msg: Ack) -> None:
        if self._inflight == 0 or msg.upto > self._sent_upto:
            log.warning("dropped an ack for data never sent, from %s", self._who())
            return
        self._inflight -= 1
        self.peer.set_checkpoint(self.remote_device, msg.upto)
        self._acked.set()
        self.activity.set()
