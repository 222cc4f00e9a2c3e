"""Run every benchmark in its own process and write bench/results.json.

    make bench                                  (N = ROAMSYNC_BENCH_N, default 100000)
    .venv/bin/python bench/run_all.py [N]
    ROAMSYNC_BENCH_ONLY=latency,storage .venv/bin/python bench/run_all.py

N is the record count of floor_vs_sync and memory, and the largest size of
reconnect (1k, 10k, 100k up to N). latency runs 1000 edits per topology and
storage 1000 records x 50 edits, whatever N is; web takes N contacts (and an
initial sync of N more while 50 users browse); scale.py (the older
single-replica script) runs at min(N, 10000), and baseline_pycrdt_websocket
(pycrdt-websocket against roamsync, capped at 60 s) at min(N, 2000). Each
script's output is shown as it runs; each has a time limit, so the run is
bounded. At the end bench/plots.py draws the PNGs in bench/ from results.json.

ROAMSYNC_BENCH_MERGE=1 (with ROAMSYNC_BENCH_ONLY) keeps the other scripts'
results already in bench/results.json and replaces only those run now; each
replaced entry gets its own "when" and "git_head", and the top-level "merged"
lists them, while "when", "n" and "git_head" stay those of the full run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import bench_n, machine

HERE = Path(__file__).resolve().parent
LIMIT = 3600  # seconds per script


def code_fingerprint() -> str:
    """SHA-256 over the installed roamsync sources: shows if a reinstall happened mid-run."""
    import roamsync.peer

    root = Path(roamsync.peer.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.glob("*/*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def plan(n: int) -> list[tuple[str, list[str]]]:
    return [
        ("floor_vs_sync", [str(n)]),
        ("latency", ["1000"]),
        ("reconnect", [str(n)]),
        ("memory", [str(n)]),
        ("storage", ["1000", "50"]),
        ("scale", [str(min(n, 10_000))]),
        ("baseline_pycrdt_websocket", [str(min(n, 2000))]),
        ("web", [str(n)]),
    ]


def run(name: str, args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / f"{name}.py"), *args]
    print(f"\n=== {name} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    code_before = code_fingerprint()
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE.parent) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if not line.startswith("BENCH-JSON "):
                    print(line, end="", flush=True)
                if time.perf_counter() - t0 > LIMIT:
                    proc.kill()
                    break
        finally:
            code = proc.wait(timeout=60)
    took = time.perf_counter() - t0
    result: dict[str, Any] = {
        "args": args,
        "wall_s": took,
        "returncode": code,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "code": code_before,
    }
    if code_fingerprint() != code_before:
        result["warning"] = "the installed roamsync changed while this benchmark ran"
        print(f"=== WARNING: {result['warning']}", flush=True)
    for line in lines:
        if line.startswith("BENCH-JSON "):
            data = json.loads(line[len("BENCH-JSON ") :])
            data.pop("machine", None)
            data.pop("bench", None)
            result["result"] = data
    if "result" not in result:
        result["output"] = lines  # scale.py prints text only
    print(f"=== {name}: {took:.0f} s, exit {code}", flush=True)
    return result


def summary(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fs = results.get("floor_vs_sync", {}).get("result")
    if fs:
        out["floor_s"] = fs["floor"]["floor_s"]
        for kind in ("tls", "ws", "memory"):
            out[f"sync_{kind}_s"] = fs[kind]["seconds"]
            out[f"sync_{kind}_ratio_to_floor"] = fs[kind]["ratio_to_floor"]
        out["target_tls_sync_le_3x_floor"] = fs["tls_target_met"]
    lat = results.get("latency", {}).get("result")
    if lat:
        for topology in ("line", "triangle"):
            s = lat[topology]["all_receivers"]
            out[f"latency_{topology}_p50_ms"] = s["p50_ms"]
            out[f"latency_{topology}_p99_ms"] = s["p99_ms"]
        out["target_latency_p50_lt_5ms_p99_lt_50ms"] = all(
            lat[t]["all_receivers"]["p50_ms"] < 5 and lat[t]["all_receivers"]["p99_ms"] < 50
            for t in ("line", "triangle")
        )
    rec = results.get("reconnect", {}).get("result")
    if rec:
        for size in rec["sizes"]:
            idle = rec[str(size)]["idle"]
            out[f"reconnect_idle_{size}"] = {"frames": idle["frames"], "bytes": idle["bytes"]}
        out["target_idle_reconnect_le_10_frames_10kb"] = rec["idle_target_met"]
    mem = results.get("memory", {}).get("result")
    if mem:
        out["memory_peak_mb"] = mem["peak_mb"]
        out["memory_n"] = mem["n"]
        out["target_memory_le_400mb"] = mem["target_met"]
    base = results.get("baseline_pycrdt_websocket", {}).get("result")
    if base:
        out["baseline_n"] = base["n"]
        out["baseline_pycrdt_websocket_records_per_s"] = base["pycrdt_websocket"]["records_per_s"]
        for kind in ("tls", "ws", "memory"):
            out[f"baseline_{kind}_ratio"] = base[kind]["ratio_to_baseline"]
    wb = results.get("web", {}).get("result")
    if wb:
        search, busy = wb["quiet"]["list with a search"], wb["during_sync"]["all"]
        out["web_n"] = wb["n"]
        out["web_list_page1_p95_ms"] = wb["quiet"]["list page 1"]["server_p95_ms"]
        out["web_list_last_page_p95_ms"] = wb["quiet"]["list last page"]["server_p95_ms"]
        out["web_whole_module_list_p50_ms"] = wb["quiet"]["whole-module list, page 1"][
            "server_p50_ms"
        ]
        out["web_search_p95_ms"] = search["server_p95_ms"]
        out["web_during_sync_p95_ms"] = busy["server_p95_ms"]
        out["web_during_sync_p99_ms"] = busy["server_p99_ms"]
        out["target_web_search_p95_lt_100ms"] = wb["target_search_p95_lt_100ms"]
        out["target_web_busy_p95_lt_500ms"] = wb["target_busy_p95_lt_500ms"]
    return out


def main() -> int:
    n = bench_n()
    only = {s for s in os.environ.get("ROAMSYNC_BENCH_ONLY", "").split(",") if s}
    merge = os.environ.get("ROAMSYNC_BENCH_MERGE") == "1"
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    head = git_head()
    for name, args in plan(n):
        if only and name not in only:
            continue
        results[name] = run(name, args)
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out = HERE / "results.json"
    if merge and out.exists():
        doc = json.loads(out.read_text())
        for name, result in results.items():
            result.update(when=when, git_head=head)
            doc["benchmarks"][name] = result
            doc.setdefault("merged", []).append({"bench": name, "when": when, "git_head": head})
        doc["summary"] = summary(doc["benchmarks"])
    else:
        doc = {
            "when": when,
            "n": n,
            "git_head": head,
            "machine": machine(),
            "total_wall_s": time.perf_counter() - t0,
            "summary": summary(results),
            "benchmarks": results,
        }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {out} ({time.perf_counter() - t0:.0f} s)")
    print(json.dumps(doc["summary"], indent=2))
    try:
        import plots
    except ImportError as exc:  # matplotlib is in the "bench" extra
        print(f"no plots: {exc}")
    else:
        plots.main(out)
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
