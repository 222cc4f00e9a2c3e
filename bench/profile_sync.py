"""cProfile of an initial sync (the slow path of floor_vs_sync); not part of run_all.

    .venv/bin/python bench/profile_sync.py [N] [ws|memory]      (default 20000 ws)

Creates N contacts on a source Peer (not profiled), then profiles the sync to a
fresh Peer over two Sessions (plain websocket on 127.0.0.1, or the in-process
channel) until the target holds all N, and prints the top functions by own
time and by cumulative time. Both ends run in this process, so the profile
shows the sender's and the receiver's work together.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from benchlib import Pair, WsServer, fill, log, until_count

from roamsync.peer import Peer
from roamsync.transport.channel import Channel, memory_pair


async def main(n: int, kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        root = Path(tmp)
        source = await Peer.open(root / "source", device="source", role="main")
        await fill(source, n)
        target = await Peer.open(root / "target", device="target", role="office")
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        near: Channel
        far: Channel
        profile.enable()
        if kind == "memory":
            near, far = memory_pair()
            pair = Pair(source, target, near, far)
            await until_count(target, "contacts", n, 600)
            profile.disable()
            await pair.close()
        else:
            async with WsServer() as server:
                near, far = await server.pair()
                pair = Pair(source, target, near, far)
                await until_count(target, "contacts", n, 600)
                profile.disable()
                await pair.close()
        log(f"sync of {n} over {kind} under cProfile: {time.perf_counter() - t0:.1f} s")
        await source.close()
        await target.close()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    asyncio.run(main(count, sys.argv[2] if len(sys.argv) > 2 else "ws"))
