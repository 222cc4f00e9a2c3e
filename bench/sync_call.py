"""What one ``roamsync.transport.memory.sync`` call costs: 300 syncs of two peers, each after
one update.

    .venv/bin/python bench/sync_call.py [SYNCS]      (default 300)

The tests' Hypothesis convergence test makes thousands of such calls; since the
redesign each is two real sessions over the in-memory channel.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine, report

from roamsync.peer import Peer
from roamsync.transport.memory import sync


async def main(syncs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        a = await Peer.open(Path(tmp) / "a", device="a", role="main", workers=0)
        b = await Peer.open(Path(tmp) / "b", device="b", role="office", workers=0)
        ids = [await a.create("contacts", {"name": f"c{i}"}) for i in range(4)]
        started = time.perf_counter()
        for i in range(syncs):
            await a.update("contacts", ids[i % 4], {"phone": str(i)})
            await sync(a, b)
        took = time.perf_counter() - started
        await a.close()
        await b.close()
    print(f"{took / syncs * 1000:.2f} ms per update and sync ({syncs} syncs)")
    return {"syncs": syncs, "ms_per_sync": took / syncs * 1000}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    report("sync_call", {"machine": machine(), **asyncio.run(main(n))})
