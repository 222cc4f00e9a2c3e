"""Edit propagation latency between three running Nodes over mutual-TLS websockets.

    .venv/bin/python bench/latency.py [EDITS]      (default 1000 per topology)

Three enrolled Nodes (main ``hq`` and two office devices ``a`` and ``b``) run
in this process on 127.0.0.1, discovery off. Two topologies:

* ``line``: a and b each dial hq (a - hq - b): edits made on hq reach a and b
  in one hop; edits made on a reach hq in one hop and b in two (relayed by hq);
* ``triangle``: b also dials a, so every device has a session with both others.

Edits rotate over 10 contacts and alternate between hq and a as the writer.
Each latency runs from ``await peer.update(...)`` returning on the writer until
``get()`` on a receiver shows the new value; receivers are woken by
``peer.listen()`` events, never by sleeps. The next edit starts once every
receiver has it. Target: p50 < 5 ms, p99 < 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import Company, contact, log, machine, percentile, report, until

from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import load_config, save_config

RECORDS = 10
EDIT_LIMIT = 10.0  # seconds one edit may take to arrive before the run fails


async def visible(node: Node, event: asyncio.Event, record: str, value: str) -> float:
    """Wait (on the peer's change events) until ``record`` shows ``value``; when."""
    while True:
        event.clear()
        if node.peer.get("contacts", record)["phone"] == value:
            return time.perf_counter()
        await event.wait()


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "mean_ms": sum(ms) / len(ms),
    }


def frames(nodes: dict[str, Node]) -> int:
    total = 0
    for node in nodes.values():
        for state in node.sessions.states.values():
            if state.session is not None:
                total += state.session.stats.frames_out
    return total


async def run(root: Path, topology: str, edits: int) -> dict[str, Any]:
    company = Company(root)
    try:
        hq = await company.main("hq")
        a = await company.start(await company.enrol(hq, "a"))
        b_folder = await company.enrol(hq, "b")
        if topology == "triangle":
            b_device = load_config(b_folder).device
            # a must know b from the registry (it arrives from hq) before b dials it
            await until(lambda: any(e.device == b_device for e in _devices(a)), 20)
            config = load_config(b_folder)
            config.peers.append(f"127.0.0.1:{a.port}")
            save_config(b_folder, config)
        b = await company.start(b_folder)
        nodes = {"hq": hq, "a": a, "b": b}
        expected = 2 if topology == "line" else 3

        def sessions_up() -> bool:
            count = sum(
                1
                for n in nodes.values()
                for s in n.sessions.states.values()
                if s.session is not None
            )
            return count >= 2 * expected

        await until(sessions_up, 30, poll=0.01)
        ids = [await hq.peer.create("contacts", contact(i)) for i in range(RECORDS)]
        await until(
            lambda: all(n.peer.store.view(r) is not None for n in nodes.values() for r in ids),
            30,
            poll=0.01,
        )
        events = {name: node.peer.listen() for name, node in nodes.items()}
        hops = {("hq", "a"): 1, ("hq", "b"): 1, ("a", "hq"): 1, ("a", "b"): 2}
        if topology == "triangle":
            hops[("a", "b")] = 1
        by_hops: dict[int, list[float]] = {1: [], 2: []}
        all_seen: list[float] = []
        update_call: list[float] = []
        frames_before = frames(nodes)
        t_run = time.perf_counter()
        for i in range(edits):
            writer = "hq" if i % 2 == 0 else "a"
            record = ids[i % RECORDS]
            value = f"+47 {i:08d}"
            t_call = time.perf_counter()
            await nodes[writer].peer.update("contacts", record, {"phone": value})
            t0 = time.perf_counter()
            update_call.append(t0 - t_call)
            receivers = [name for name in nodes if name != writer]
            async with asyncio.timeout(EDIT_LIMIT):
                seen = await asyncio.gather(
                    *(visible(nodes[r], events[r], record, value) for r in receivers)
                )
            for r, t in zip(receivers, seen, strict=True):
                by_hops[hops[(writer, r)]].append(t - t0)
            all_seen.append(max(seen) - t0)
        elapsed = time.perf_counter() - t_run
        frames_per_edit = (frames(nodes) - frames_before) / edits
        for name, node in nodes.items():
            node.peer.unlisten(events[name])
        out: dict[str, Any] = {
            "edits": edits,
            "all_receivers": summary(all_seen),
            "one_hop": summary(by_hops[1]),
            "update_call": summary(update_call),
            "frames_per_edit": frames_per_edit,
            "edits_per_s": edits / elapsed,
        }
        if by_hops[2]:
            out["two_hops"] = summary(by_hops[2])
        return out
    finally:
        await company.stop()


def _devices(node: Node) -> list[Any]:
    from roamsync.peer.org import registry

    with contextlib.suppress(Exception):
        return registry.devices(node.peer)
    return []


async def main(edits: int) -> dict[str, Any]:
    results: dict[str, Any] = {"edits": edits, "target": {"p50_ms": 5.0, "p99_ms": 50.0}}
    for topology in ("line", "triangle"):
        with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
            r = await run(Path(tmp), topology, edits)
        results[topology] = r
        for key in ("one_hop", "two_hops", "all_receivers", "update_call"):
            if key in r:
                s = r[key]
                log(
                    f"  {topology:8s} {key:13s} p50 {s['p50_ms']:6.2f} ms  p99 "
                    f"{s['p99_ms']:6.2f} ms  max {s['max_ms']:6.1f} ms  (n={s['count']})"
                )
        log(
            f"  {topology:8s} frames per edit (all sessions, both ways): {r['frames_per_edit']:.1f}"
        )
    line = results["line"]["all_receivers"]
    results["target_met"] = line["p50_ms"] < 5.0 and line["p99_ms"] < 50.0
    return results


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = asyncio.run(main(n))
    report("latency", {"machine": machine(), **out})
