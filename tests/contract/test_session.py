"""Sync sessions over both channel kinds: catch-up, live push, resume, refusal, bad frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from roamsync.peer import Peer
from roamsync.schema import SessionRefused
from roamsync.transport.channel import memory_pair
from roamsync.transport.protocol import Ack, Changes, Hello, decode, encode
from roamsync.transport.session import MAX_BAD_FRAMES, MAX_UNSENT_ACKS, Session

from conftest import ChannelPair, OpenPeer, until

Connect = Callable[..., Awaitable[tuple[Session, Session]]]


@pytest.fixture
async def connect(channel_pair: ChannelPair) -> AsyncIterator[Connect]:
    """``await connect(a, b)`` runs a session between two peers until the test ends."""
    tasks: list[asyncio.Task[None]] = []

    async def _connect(a: Peer, b: Peer, **options: object) -> tuple[Session, Session]:
        near, far = await channel_pair()
        sa = Session(a, near, company="acme", **options)  # type: ignore[arg-type]
        sb = Session(b, far, company="acme", **options)  # type: ignore[arg-type]
        tasks.extend([asyncio.create_task(sa.run()), asyncio.create_task(sb.run())])
        await asyncio.wait_for(asyncio.gather(sa.ready.wait(), sb.ready.wait()), 5)
        return sa, sb

    yield _connect
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def same(a: Peer, b: Peer, module: str = "contacts") -> bool:
    return a.list(module) == b.list(module)


async def test_catch_up_then_live_push(open_peer: OpenPeer, connect: Connect) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    for i in range(120):
        await a.create("contacts", {"name": f"c{i}"})
    await b.create("contacts", {"name": "from b"})
    await connect(a, b, batch=50)
    await until(lambda: b.count("contacts") == 121 and same(a, b))
    acme = await a.create("contacts", {"name": "Acme"})  # pushed at once
    await until(lambda: b.store.view(acme) is not None)
    await b.update("contacts", acme, {"phone": "42"})
    await until(lambda: a.get("contacts", acme)["phone"] == "42")


async def test_resume_costs_what_changed(open_peer: OpenPeer, connect: Connect) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    ids = [await a.create("contacts", {"name": f"c{i}"}) for i in range(200)]
    sa, sb = await connect(a, b)
    await until(lambda: b.count("contacts") == 200 and a.checkpoint("b") == a.last_seq())
    await sa.channel.close()
    await a.update("contacts", ids[7], {"phone": "1"})
    sa, sb = await connect(a, b)
    await until(lambda: b.get("contacts", ids[7])["phone"] == "1")
    await until(lambda: a.checkpoint("b") == a.last_seq() and b.checkpoint("a") == b.last_seq())
    assert sa.stats.records_out == 1
    assert sb.stats.records_out <= 1  # at most the one record, echoed once
    assert sa.stats.frames_out + sb.stats.frames_out <= 14  # hellos, pendings, changes, acks
    assert sa.stats.bytes_out + sb.stats.bytes_out < 10_000
    await sa.channel.close()
    sa, sb = await connect(a, b)  # idle: nothing changed
    await until(lambda: sa.remote_idle.is_set() and sb.remote_idle.is_set())
    assert sa.caught_up()
    assert sb.caught_up()
    assert sa.stats.frames_out + sb.stats.frames_out == 4  # two hellos, two "pending: 0"
    assert sa.stats.bytes_out + sb.stats.bytes_out < 1_000


async def test_relaying_through_sessions(open_peer: OpenPeer, connect: Connect) -> None:
    a, b, c = await open_peer("a"), await open_peer("b"), await open_peer("c")
    await connect(a, b)
    await connect(b, c)
    acme = await a.create("contacts", {"name": "Acme"})
    await until(lambda: c.store.view(acme) is not None)
    await c.update("contacts", acme, {"phone": "via b"})
    await until(lambda: a.get("contacts", acme)["phone"] == "via b")


async def test_a_slow_peer_gets_at_most_window_frames_in_flight(open_peer: OpenPeer) -> None:
    a = await open_peer("a")
    for i in range(60):
        await a.create("contacts", {"name": f"c{i}"})
    near, far = memory_pair(maxsize=1000)
    session = Session(a, near, company="acme", batch=5, window=3, frame_budget=1)
    task = asyncio.create_task(session.run())
    try:
        await far.send(encode(Hello("slow", "office", "acme")))
        frames = [await asyncio.wait_for(far.recv(), 5) for _ in range(5)]
        assert [f[0] for f in frames] == [1, 5, 2, 2, 2]  # hello, pending, 3 changes
        with pytest.raises(TimeoutError):  # the fourth waits for an ack
            await asyncio.wait_for(far.recv(), 0.2)
        first = decode(frames[2])
        assert isinstance(first, Changes)
        assert len(first.items) == 1  # a record's state exceeds a budget of one byte
        await far.send(encode(Ack(first.upto)))
        assert (await asyncio.wait_for(far.recv(), 5))[0] == 2
        assert a.checkpoint("slow") == first.upto
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def frames_of_a_catch_up(a: Peer, records: int, **options: object) -> list[Changes]:
    """The Changes frames ``a`` sends a new peer that acknowledges each one at once,
    once ``a`` has taken in the last acknowledgement."""
    near, far = memory_pair(maxsize=1000)
    session = Session(a, near, company="acme", **options)  # type: ignore[arg-type]
    task = asyncio.create_task(session.run())
    frames: list[Changes] = []
    try:
        await far.send(encode(Hello("new", "office", "acme")))
        while sum(len(f.items) for f in frames) < records:
            msg = decode(await asyncio.wait_for(far.recv(), 5))
            if isinstance(msg, Changes):
                frames.append(msg)
                await far.send(encode(Ack(msg.upto)))
        await until(lambda: a.checkpoint("new") == frames[-1].upto)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return frames


async def test_frames_fill_across_feed_reads(open_peer: OpenPeer) -> None:
    a = await open_peer("a")
    for i in range(60):
        await a.create("contacts", {"name": f"c{i}"})
    frames = await frames_of_a_catch_up(a, 60, batch=7)
    assert len(frames) == 1  # 60 small records: one frame, not one per read of 7
    assert frames[0].upto == a.last_seq()


async def test_frames_are_cut_at_the_budget(open_peer: OpenPeer) -> None:
    a = await open_peer("a")
    for i in range(60):
        await a.create("contacts", {"name": f"c{i}"})
    size = sum(len(state) + len(rid) for _, rid, state in a.changes(0, 10))
    frames = await frames_of_a_catch_up(a, 60, batch=7, frame_budget=size)
    assert [len(f.items) for f in frames] == [10] * 6
    assert [f.upto for f in frames] == [seq for seq, _, _ in a.changes(0, 60)][9::10]


async def test_both_sides_sending_through_a_one_frame_buffer_do_not_deadlock(
    open_peer: OpenPeer,
) -> None:
    """Each receiver must keep reading while its acks wait for room on the channel."""
    a, b = await open_peer("a"), await open_peer("b")
    for i in range(30):
        await a.create("contacts", {"name": f"a{i}"})
        await b.create("contacts", {"name": f"b{i}"})
    near, far = memory_pair(maxsize=1)
    options = {"company": "acme", "batch": 2, "frame_budget": 1}  # one record a frame
    sessions = [Session(a, near, **options), Session(b, far, **options)]  # type: ignore[arg-type]
    tasks = [asyncio.create_task(s.run()) for s in sessions]
    try:
        await until(lambda: a.count("contacts") == b.count("contacts") == 60, limit=20)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_peer_that_ignores_the_window_and_our_acks_is_no_longer_read(
    open_peer: OpenPeer,
) -> None:
    a = await open_peer("a")
    near, far = memory_pair(maxsize=1)
    session = Session(a, near, company="acme")
    task = asyncio.create_task(session.run())
    try:
        await far.send(encode(Hello("flood", "office", "acme")))
        sent = 0
        while sent < 10 * MAX_UNSENT_ACKS:  # far never reads: our acks pile up, then we stop
            try:
                await asyncio.wait_for(far.send(encode(Changes(0, ()))), 0.5)
            except TimeoutError:
                break
            sent += 1
        # the ack queue, the inbox of window frames and the one being applied, then one
        # frame in the channel and one being read
        assert MAX_UNSENT_ACKS <= sent <= MAX_UNSENT_ACKS + session.window + 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_another_company_is_refused_before_any_data(open_peer: OpenPeer) -> None:
    a = await open_peer("a")
    await a.create("contacts", {"name": "secret"})
    near, far = memory_pair()
    session = Session(a, near, company="acme")
    task = asyncio.create_task(session.run())
    await far.send(encode(Hello("intruder", "office", "evil-corp")))
    frames = [await asyncio.wait_for(far.recv(), 5) for _ in range(2)]
    assert [f[0] for f in frames] == [1, 4]  # our hello, then an error: no record data
    with pytest.raises(SessionRefused, match="company"):
        await asyncio.wait_for(task, 5)


async def test_bad_frames_are_dropped_then_the_session_ends(open_peer: OpenPeer) -> None:
    a, b = await open_peer("a"), await open_peer("b")
    acme = await b.create("contacts", {"name": "Acme"})
    state = b.store.state(acme)
    assert state is not None
    near, far = memory_pair(maxsize=1000)
    session = Session(a, near, company="acme")
    task = asyncio.create_task(session.run())
    await far.send(encode(Hello("b", "office", "acme")))
    await far.send(b"\xff garbage")
    await far.send(encode(Changes(1, (("x" * 20, b"\x00\x01garbage"), (acme, state)))))
    await until(lambda: a.store.view(acme) is not None)  # the good record still landed
    assert session.stats.bad_frames == 1
    for _ in range(MAX_BAD_FRAMES):
        await far.send(b"")
    await asyncio.wait_for(task, 5)  # ended by itself
    assert a.get("contacts", acme)["name"] == "Acme"


async def test_an_ack_for_data_never_sent_is_ignored(open_peer: OpenPeer) -> None:
    a = await open_peer("a")
    near, far = memory_pair()
    session = Session(a, near, company="acme")
    task = asyncio.create_task(session.run())
    try:
        await far.send(encode(Hello("b", "office", "acme")))
        await asyncio.wait_for(session.ready.wait(), 5)
        await far.send(encode(Ack(10**9)))
        await far.send(encode(Hello("b", "office", "acme")))  # a second hello: dropped
        await asyncio.sleep(0)
        assert a.checkpoint("b") == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_oversized_frame_closes_only_that_connection(
    open_peer: OpenPeer, connect: Connect
) -> None:
    import aiohttp
    from aiohttp import web

    from roamsync.transport.protocol import MAX_FRAME
    from roamsync.transport.websocket import SYNC_PATH, accept

    a, b = await open_peer("a"), await open_peer("b")
    await connect(a, b)  # a healthy session beside the hostile connection
    ended = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        channel = await accept(request)
        await Session(a, channel, company="acme").run()
        ended.set()
        assert isinstance(channel.ws, web.WebSocketResponse)  # accept() made it
        return channel.ws

    app = web.Application()
    app.router.add_get(SYNC_PATH, handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{port}{SYNC_PATH}", max_msg_size=0)
            await ws.send_bytes(encode(Hello("hostile", "office", "acme")))
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await ws.send_bytes(b"\x02" + b"\x00" * (MAX_FRAME + 1))  # the server hangs up
            await asyncio.wait_for(ended.wait(), 10)  # that connection is closed...
            await ws.close()
        acme = await a.create("contacts", {"name": "still serving"})
        await until(lambda: b.store.view(acme) is not None)  # ...the other one goes on
    finally:
        await runner.cleanup()
