"""Before and after, side by side in one run: the same benchmarks on two checkouts, alternated.

    .venv/bin/python bench/compare.py BEFORE_DIR [--rounds 3] [--n 100000] [--edits 300]

``BEFORE_DIR`` is another checkout of roamsync with its own ``.venv`` (e.g. a
``git worktree`` of the commit before a change, where ``make install`` ran).
Each round runs, for the checkout before and then this one (the order flips
every round, so neither always runs on a warmer machine):

* ``bench/floor_vs_sync.py N``: the initial sync's ratio to the pycrdt + SQLite floor;
* ``bench/latency.py EDITS``: edit latency p50 and p99 (line topology, all receivers);
* ``bench/reconnect.py 1000``: frames and bytes of an idle reconnect.

It prints one table with the median of the rounds for each figure and ends
with a ``BENCH-JSON`` line holding every round's figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AFTER = HERE.parent


def run(checkout: Path, script: str, *args: str) -> dict[str, Any]:
    """Run a benchmark script of ``checkout`` with its own virtualenv; its BENCH-JSON."""
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), str(checkout / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=checkout / "bench",
        timeout=3600,
        check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("BENCH-JSON "):
            found: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
            return found
    raise RuntimeError(f"{checkout}/{script} printed no result:\n{done.stdout}\n{done.stderr}")


def figures(checkout: Path, n: int, edits: int) -> dict[str, float]:
    sync = run(checkout, "floor_vs_sync.py", str(n))
    latency = run(checkout, "latency.py", str(edits))
    reconnect = run(checkout, "reconnect.py", "1000")
    line = latency["line"]["all_receivers"]
    idle = reconnect["1000"]["idle"]
    return {
        "floor_s": sync["floor"]["floor_s"],
        "tls_ratio": sync["tls"]["ratio_to_floor"],
        "serve_ratio": sync["tls2"]["ratio_to_floor"],
        "ws_ratio": sync["ws"]["ratio_to_floor"],
        "memory_ratio": sync["memory"]["ratio_to_floor"],
        "edit_p50_ms": line["p50_ms"],
        "edit_p99_ms": line["p99_ms"],
        "idle_reconnect_frames": idle["frames"],
        "idle_reconnect_bytes": idle["bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=300)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for i in range(args.rounds):
        order = [("before", args.before), ("after", AFTER)]
        for name, checkout in order if i % 2 == 0 else order[::-1]:
            print(f"round {i + 1}: {name} ({checkout})", flush=True)
            rounds[name].append(figures(checkout, args.n, args.edits))
            print("  " + json.dumps(rounds[name][-1]), flush=True)
    print(f"\nmedians of {args.rounds} rounds, N={args.n}, {args.edits} edits")
    print(f"{'figure':24s} {'before':>10s} {'after':>10s} {'after/before':>13s}")
    for key in rounds["before"][0]:
        b = statistics.median(r[key] for r in rounds["before"])
        a = statistics.median(r[key] for r in rounds["after"])
        print(f"{key:24s} {b:10.3f} {a:10.3f} {a / b if b else float('nan'):13.3f}")
    print("BENCH-JSON " + json.dumps({"bench": "compare", "n": args.n, **rounds}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
