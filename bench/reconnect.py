"""What a reconnect costs after a full sync: idle, and with 10 records changed.

    .venv/bin/python bench/reconnect.py [N]      (sizes 1k, 10k, 100k up to N; default
                                                  ROAMSYNC_BENCH_N or 100000)

Two Peers (main ``a``, office ``b``) run Sessions over a mutual-TLS websocket on
127.0.0.1. For each size the store of ``a`` is grown with Peer.create and fully
synced to ``b`` (until both checkpoints are caught up); then:

* ``idle``: the session is closed and reopened with nothing changed;
* ``dirty``: the session is closed, ``a`` changes 10 records, the session is
  reopened.

Each reconnect counts the protocol frames and bytes both ways (Session.stats of
both ends: frames_out and bytes_out summed) and the time from the connect until
both checkpoints are caught up (and, when dirty, ``b`` shows the 10 changes).
Target (idle): at most 10 frames and 10 KB.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Pair,
    WsServer,
    bench_n,
    fill,
    log,
    machine,
    report,
    tls_contexts,
    until,
)

from roamsync.peer import Peer

SIZES = (1_000, 10_000, 100_000)
DIRTY = 10


def caught_up(a: Peer, b: Peer) -> bool:
    return a.checkpoint(b.device) == a.last_seq() and b.checkpoint(a.device) == b.last_seq()


async def reconnect(server: WsServer, a: Peer, b: Peer, done: Any, limit: float) -> dict[str, Any]:
    """Open a session, wait until ``done()`` and caught up; its cost. Closes it again."""
    t0 = time.perf_counter()
    near, far = await server.pair()
    t_connected = time.perf_counter()
    pair = Pair(a, b, near, far)
    await pair.ready()
    t_ready = time.perf_counter()
    await until(lambda: done() and caught_up(a, b), limit)
    t1 = time.perf_counter()
    s, r = pair.sa.stats, pair.sb.stats
    out = {
        "seconds": t1 - t0,
        "connect_s": t_connected - t0,
        "hello_s": t_ready - t_connected,
        "frames": s.frames_out + r.frames_out,
        "bytes": s.bytes_out + r.bytes_out,
        "frames_a_to_b": s.frames_out,
        "frames_b_to_a": r.frames_out,
        "bytes_a_to_b": s.bytes_out,
        "bytes_b_to_a": r.bytes_out,
        "records_a_to_b": s.records_out,
        "records_b_to_a": r.records_out,
    }
    await pair.close()
    return out


async def main(n: int) -> dict[str, Any]:
    sizes = [s for s in SIZES if s <= n] or [n]
    results: dict[str, Any] = {"sizes": sizes, "target_idle": {"frames": 10, "bytes": 10_000}}
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        root = Path(tmp)
        server_ssl, client_ssl = tls_contexts(root)
        a = await Peer.open(root / "a", device="a", role="main")
        b = await Peer.open(root / "b", device="b", role="office")
        ids: list[str] = []
        try:
            async with WsServer(server_ssl, client_ssl) as server:
                for size in sizes:
                    ids += await fill(a, size - len(ids), start=len(ids))
                    limit = max(60.0, size / 200)
                    full = await reconnect(
                        server, a, b, lambda size=size: b.count("contacts") >= size, limit
                    )
                    log(
                        f"{size}: sync of the new records: {full['seconds']:.1f} s, "
                        f"{full['frames']} frames"
                    )
                    idle = await reconnect(server, a, b, lambda: True, 30)
                    step = max(1, len(ids) // DIRTY)
                    changed = ids[::step][:DIRTY]
                    for j, record in enumerate(changed):
                        await a.update("contacts", record, {"phone": f"dirty {size} {j}"})

                    def arrived(changed: list[str] = changed, size: int = size) -> bool:
                        return all(
                            b.get("contacts", r)["phone"] == f"dirty {size} {j}"
                            for j, r in enumerate(changed)
                        )

                    dirty = await reconnect(server, a, b, arrived, 30)
                    results[str(size)] = {"full_sync": full, "idle": idle, "dirty": dirty}
                    for kind, r in (("idle", idle), ("dirty", dirty)):
                        log(
                            f"  {size:6d} {kind:5s}: {r['frames']:3d} frames, {r['bytes']:6d} B, "
                            f"{r['seconds'] * 1000:7.1f} ms (TLS connect "
                            f"{r['connect_s'] * 1000:.1f} ms, hellos {r['hello_s'] * 1000:.1f} ms),"
                            f" records a->b {r['records_a_to_b']}, b->a {r['records_b_to_a']}"
                        )
        finally:
            await a.close()
            await b.close()
    results["idle_target_met"] = all(
        results[str(s)]["idle"]["frames"] <= 10 and results[str(s)]["idle"]["bytes"] <= 10_000
        for s in sizes
    )
    return results


if __name__ == "__main__":
    out = asyncio.run(main(bench_n()))
    report("reconnect", {"machine": machine(), **out})
