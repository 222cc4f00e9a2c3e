"""Where a new device's `roamsync serve` spends an initial sync: in apply_remote or around it.

    .venv/bin/python bench/receiver_overhead.py [N] [--stub-us US]     (default N: 20000)

As the tls2 case of floor_vs_sync: main (in this process) holds N contacts and
a newly enrolled device runs as a `roamsync serve` subprocess. That process is
this script again, which wraps ``Peer.apply_remote`` with timers before it
runs the command line. It writes, at exit, the receiver's wall and CPU time
from the first record received to the last one stored, split into
``apply_remote`` and everything around it (TLS, websocket, decode, acks, the
event loop, other tasks); and the time it spent idle outside apply_remote,
which is time spent waiting for the sender.

``--stub-us US`` replaces apply_remote by a busy loop of US microseconds per
record that stores nothing (the run then ends when N records went through):
what the transport would cost around a merge that fast. Not part of run_all.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import Company, fill, log, until
from floor_vs_sync import _count

from roamsync.peer.replica import ApplyResult, Peer
from roamsync.peer.replica.merge import Prepared

RESULT = "receiver.json"


def serve_with_timers(folder: Path, stub_us: float | None, n: int) -> None:
    """The child: `roamsync serve FOLDER` with apply_remote timed (or stubbed)."""
    t: dict[str, Any] = {"records": 0, "calls": 0, "apply_s": 0.0, "apply_cpu_s": 0.0}
    real = Peer.apply_remote

    async def timed(
        self: Peer,
        items: Sequence[tuple[str, bytes]],
        source: str = "",
        prepared: Prepared | None = None,
    ) -> ApplyResult:
        wall, cpu = time.perf_counter(), time.thread_time()
        t.setdefault("first", wall)
        t.setdefault("first_cpu", cpu)
        if stub_us is None or not source:
            result = await real(self, items, source, prepared)
        else:
            until_t = wall + stub_us * 1e-6 * len(items)
            while time.perf_counter() < until_t:
                pass
            result = ApplyResult(len(items), 0, 0)
        t["last"], t["last_cpu"] = time.perf_counter(), time.thread_time()
        t["apply_s"] += t["last"] - wall
        t["apply_cpu_s"] += t["last_cpu"] - cpu
        t["records"] += len(items)
        t["calls"] += 1 if items else 0
        if stub_us is not None and t["records"] >= n:
            (folder / "stub-done").touch()
        return result

    Peer.apply_remote = timed  # type: ignore[method-assign,assignment]
    atexit.register(lambda: (folder / RESULT).write_text(json.dumps(t)))
    from roamsync.peer.cli import entry

    sys.argv = ["roamsync", "serve", str(folder), "--no-discovery"]
    entry()


async def measure(n: int, stub_us: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roamsync-bench-") as tmp:
        company = Company(Path(tmp))
        try:
            hq = await company.main("hq")
            await fill(hq.peer, n, label="hq ")
            folder = await company.enrol(hq, "office-p")
            stub = [] if stub_us is None else ["--stub-us", str(stub_us)]
            command = [sys.executable, __file__, "--serve", str(folder), str(n), *stub]
            t0 = time.perf_counter()
            with (folder / "serve.log").open("w") as out:
                proc = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
                store, done = folder / "roamsync.sqlite3", folder / "stub-done"

                def finished() -> bool:
                    if proc.returncode is not None:
                        return True
                    return done.exists() if stub_us is not None else _count(store) >= n

                await until(finished, max(120.0, n / 100), 0.02)
                took = time.perf_counter() - t0
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 30)
            timers = json.loads((folder / RESULT).read_text())
        finally:
            await company.stop()
    return {"n": n, "stub_us": stub_us, "seconds": took, **summary(timers)}


def summary(t: dict[str, Any]) -> dict[str, Any]:
    span, cpu = t["last"] - t["first"], t["last_cpu"] - t["first_cpu"]
    around_wall, around_cpu = span - t["apply_s"], cpu - t["apply_cpu_s"]
    per = 1e6 / t["records"]
    return {
        "records": t["records"],
        "apply_calls": t["calls"],
        "span_s": span,
        "us_per_record": {
            "apply_remote_wall": t["apply_s"] * per,
            "apply_remote_cpu": t["apply_cpu_s"] * per,
            "around_cpu": around_cpu * per,
            "idle_waiting_for_the_sender": (around_wall - around_cpu) * per,
        },
    }


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        stub = float(sys.argv[5]) if len(sys.argv) > 5 else None
        serve_with_timers(Path(sys.argv[2]), stub, int(sys.argv[3]))
        return
    args = sys.argv[1:]
    stub_us = float(args[args.index("--stub-us") + 1]) if "--stub-us" in args else None
    n = int(args[0]) if args and args[0].isdigit() else 20_000
    out = asyncio.run(measure(n, stub_us))
    log(f"receiver of {out['records']} records in {out['apply_calls']} apply_remote calls:")
    for key, value in out["us_per_record"].items():
        log(f"  {key:30s} {value:7.1f} us/record")
    log(json.dumps(out))


if __name__ == "__main__":
    main()
