"""How one replica copes with many records: create, list, reopen, sync, memory.

.venv/bin/python bench/scale.py 100000
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from roamsync.peer import Peer
from roamsync.transport.memory import sync


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peer = await Peer.open(root / "a", device="a", role="main")
        t0 = time.perf_counter()
        for i in range(n):
            await peer.create("contacts", {"name": f"Company {i}", "phone": f"+47 {i:08d}"})
        t1 = time.perf_counter()
        print(f"create {n}: {t1 - t0:.1f} s ({n / (t1 - t0):.0f}/s, one transaction each)")
        rows = peer.list("contacts")
        t2 = time.perf_counter()
        print(f"list {len(rows)}: {t2 - t1:.2f} s")
        await peer.close()
        t3 = time.perf_counter()
        peer = await Peer.open(root / "a", device="a", role="main")
        print(f"reopen: {time.perf_counter() - t3:.3f} s")
        other = await Peer.open(root / "b", device="b", role="office")
        t4 = time.perf_counter()
        report = await sync(peer, other)
        t5 = time.perf_counter()
        print(f"in-process initial sync of {report.a_to_b}: {t5 - t4:.1f} s")
        size = sum(f.stat().st_size for f in (root / "a").iterdir())
        print(f"store size: {size / n:.0f} bytes/record; peak RSS {rss_mb():.0f} MB")
        await peer.close()
        await other.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
