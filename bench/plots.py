"""Draw the PNGs in bench/ from bench/results.json (run_all.py calls this at the end).

    .venv/bin/python bench/plots.py [results.json]

* sync_throughput.png: initial-sync records/s of the pycrdt + SQLite floor and of
  roamsync in-process, over a websocket and over TLS, from floor_vs_sync (large N)
  and from baseline_pycrdt_websocket (small N, with pycrdt-websocket beside them);
* latency.png: edit latency p50 / p99 per topology, with the 5 ms / 50 ms targets;
* reconnect.png: frames and bytes of idle and dirty reconnects at each store size.

A figure whose benchmark is missing from results.json is skipped. Matplotlib
runs with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg")
from matplotlib.axes import Axes

HERE = Path(__file__).resolve().parent
COLOURS = {
    "floor": "#7f7f7f",
    "memory": "#1f77b4",
    "ws": "#2ca02c",
    "tls": "#d62728",
    "pycrdt-websocket": "#ff7f0e",
}
LABELS = {
    "floor": "pycrdt + SQLite floor",
    "memory": "roamsync in-process",
    "ws": "roamsync websocket",
    "tls": "roamsync mTLS websocket",
    "pycrdt-websocket": "pycrdt-websocket 0.16.5",
}


def result(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry: dict[str, Any] | None = doc.get("benchmarks", {}).get(name)
    return entry.get("result") if entry else None


def label_bars(ax: Axes, bars: Any, fmt: str) -> None:
    for bar in bars:
        height = bar.get_height()
        ax.annotate(
            fmt.format(height),
            (bar.get_x() + bar.get_width() / 2, height),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )


def rates(res: dict[str, Any], n: int) -> dict[str, float]:
    out = {"floor": n / res["floor"]["floor_s"]}
    for kind in ("memory", "ws", "tls"):
        out[kind] = res[kind]["records_per_s"]
    return out


def sync_throughput(doc: dict[str, Any], folder: Path) -> Path | None:
    groups: list[tuple[str, dict[str, float]]] = []
    fs = result(doc, "floor_vs_sync")
    if fs:
        groups.append((f"floor_vs_sync, N = {fs['n']:,}", rates(fs, fs["n"])))
    base = result(doc, "baseline_pycrdt_websocket")
    if base:
        values = rates(base, base["n"])
        values["pycrdt-websocket"] = base["pycrdt_websocket"]["records_per_s"]
        groups.append((f"baseline run, N = {base['n']:,}", values))
    if not groups:
        return None
    kinds = list(LABELS)
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(9, 5))
    for k, kind in enumerate(kinds):
        xs = [g + (k - (len(kinds) - 1) / 2) * width for g, (_, v) in enumerate(groups)]
        ys = [values.get(kind, 0.0) for _, values in groups]
        shown = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
        if not shown:
            continue
        bars = ax.bar(
            [x for x, _ in shown],
            [y for _, y in shown],
            width,
            label=LABELS[kind],
            color=COLOURS[kind],
        )
        label_bars(ax, bars, "{:,.0f}")
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [title for title, _ in groups])
    ax.set_ylabel("records per second (log scale)")
    ax.set_title(
        "Initial sync of six-field contacts to a new device (one core, 127.0.0.1)\n"
        "higher is better; the floor is pycrdt encode + apply + SQLite insert"
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(100, ax.get_ylim()[1] * 3)
    ax.grid(axis="y", which="major", alpha=0.3)
    return save(fig, folder / "sync_throughput.png")


def latency(doc: dict[str, Any], folder: Path) -> Path | None:
    lat = result(doc, "latency")
    if not lat:
        return None
    rows = [
        ("line", "one_hop", "line\none hop"),
        ("line", "all_receivers", "line\nall receivers"),
        ("triangle", "one_hop", "triangle\none hop"),
        ("triangle", "all_receivers", "triangle\nall receivers"),
    ]
    rows = [r for r in rows if r[1] in lat[r[0]]]
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.38
    for k, (stat, colour) in enumerate((("p50_ms", "#1f77b4"), ("p99_ms", "#d62728"))):
        xs = [i + (k - 0.5) * width for i in range(len(rows))]
        ys = [lat[topology][what][stat] for topology, what, _ in rows]
        bars = ax.bar(xs, ys, width, label=stat.replace("_ms", ""), color=colour)
        label_bars(ax, bars, "{:.1f}")
    target = lat.get("target", {"p50_ms": 5.0, "p99_ms": 50.0})
    ax.axhline(target["p50_ms"], color="#1f77b4", ls="--", lw=1, label="p50 target (5 ms)")
    ax.axhline(target["p99_ms"], color="#d62728", ls="--", lw=1, label="p99 target (50 ms)")
    ax.set_yscale("log")
    ax.set_ylim(0.5, 100)
    ax.set_xticks(range(len(rows)), [title for _, _, title in rows])
    ax.set_ylabel("milliseconds (log scale)")
    ax.set_title(
        f"Edit latency, three Nodes over mutual TLS ({lat['edits']:,} edits per topology)\n"
        "from update() returning until the receiver's get() shows it; lower is better"
    )
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    ax.grid(axis="y", which="major", alpha=0.3)
    return save(fig, folder / "latency.png")


def reconnect(doc: dict[str, Any], folder: Path) -> Path | None:
    rec = result(doc, "reconnect")
    if not rec:
        return None
    sizes = rec["sizes"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    width = 0.38
    for k, (kind, colour) in enumerate((("idle", "#2ca02c"), ("dirty", "#ff7f0e"))):
        xs = [i + (k - 0.5) * width for i in range(len(sizes))]
        label = "idle" if kind == "idle" else "dirty (10 records changed)"
        frames = [rec[str(s)][kind]["frames"] for s in sizes]
        size_bytes = [rec[str(s)][kind]["bytes"] for s in sizes]
        label_bars(left, left.bar(xs, frames, width, label=label, color=colour), "{:.0f}")
        label_bars(right, right.bar(xs, size_bytes, width, label=label, color=colour), "{:,.0f}")
    target = rec.get("target_idle", {"frames": 10, "bytes": 10_000})
    left.axhline(target["frames"], color="k", ls="--", lw=1, label="idle target (10 frames)")
    right.axhline(target["bytes"], color="k", ls="--", lw=1, label="idle target (10 KB)")
    ticks = [f"{s:,} records" for s in sizes]
    for ax, unit in ((left, "frames (both directions)"), (right, "bytes (both directions)")):
        ax.set_xticks(range(len(sizes)), ticks)
        ax.set_ylabel(unit)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    left.set_ylim(0, max(target["frames"], 10) * 1.5)
    right.set_ylim(0, max(target["bytes"], 12_000) * 1.3)
    right.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    left.set_title("frames per reconnect")
    right.set_title("bytes per reconnect")
    fig.suptitle("Reconnect of two Peers over mutual TLS, by store size (lower is better)")
    return save(fig, folder / "reconnect.png")


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(results: Path = HERE / "results.json") -> list[Path]:
    doc = json.loads(results.read_text())
    written = []
    for draw in (sync_throughput, latency, reconnect):
        path = draw(doc, results.parent)
        if path is not None:
            print(f"wrote {path}")
            written.append(path)
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json")
