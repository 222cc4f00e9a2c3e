"""The long fuzzing run: the wire decoder, the update-apply path and a session's receiver.

    make fuzz                                         (2 workers, seed 20261202)
    .venv/bin/python bench/fuzz.py --decode 2000000 --apply 2000000 --session 200000 \\
        [--workers 2] [--seed S] [--json out.json]
    .venv/bin/python bench/fuzz.py --seed S --replay apply:BLOCK   (one block again, alone)

The harness, mutators and properties are those of ``tests/unit/test_fuzz.py``
(``tests/fuzzing.py``), driven here by a seeded ``random.Random`` instead of
Hypothesis, which is far faster per input. Work is cut into blocks; block ``b``
of a target draws from ``Random(f"{seed}/{target}/{b}")``, so any block can be
replayed alone. An apply block is one replica (fresh or populated with the
source's records; office, main or travel; every tenth in SQLite) fed
``APPLY_BLOCK`` updates in batches, then checked to be readable, writable,
reopenable and to converge with a later valid sync; a session block runs
``SESSIONS_PER_BLOCK`` sessions of fuzzed frames against one replica.

Each worker is its own process. A worker that dies (a segfault in native code)
is a **crash**: it is counted, with the block it was in, and a new worker goes
on from the next block. An exception out of a target other than the codec's
``ProtocolError`` is an **escaped exception**; a broken property (an
AssertionError) a **property failure**. All three must be 0. The last line
printed is ``FUZZ-RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fuzzing import (  # noqa: E402 (the harness lives beside the tests)
    ApplyTarget,
    Corpus,
    build_corpus,
    check_decode,
    fuzz_frame,
    fuzz_update,
    run_session,
)

TARGETS = ("decode", "apply", "session")
DECODE_BLOCK = 10_000  # frames
APPLY_BLOCK = 250  # updates
SESSIONS_PER_BLOCK = 25  # of 1..30 frames each
ROLES = ("office", "main", "travel")
FAILURES_KEPT = 20
STORE_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") else None  # SQLite without fsync cost


def block_rng(seed: int, target: str, block: int) -> random.Random:
    return random.Random(f"{seed}/{target}/{block}")


def blocks_needed(target: str, inputs: int) -> int:
    per = {"decode": DECODE_BLOCK, "apply": APPLY_BLOCK, "session": SESSIONS_PER_BLOCK * 15}
    return -(-inputs // per[target])  # session blocks average about 15 frames a session


def schedule(counts: dict[str, int], worker: int, workers: int) -> list[tuple[str, int]]:
    """This worker's blocks, the targets interleaved so all progress together."""
    lanes = [
        [(t, b) for b in range(blocks_needed(t, counts[t])) if b % workers == worker]
        for t in TARGETS
    ]
    longest = max(len(lane) for lane in lanes) or 1
    spread = []
    for lane in lanes:  # each lane's blocks at evenly spaced positions in [0, 1)
        spread += [((i + 0.5) / len(lane) * longest, task) for i, task in enumerate(lane)]
    return [task for _, task in sorted(spread)]


# -- one block --------------------------------------------------------------------------


class Block:
    """Runs one block and counts what happened; records failures with their input."""

    def __init__(self, seed: int, target: str, number: int, corpus: Corpus) -> None:
        self.seed, self.target, self.number, self.corpus = seed, target, number, corpus
        self.rng = block_rng(seed, target, number)
        self.counts: Counter[str] = Counter()
        self.failures: list[dict[str, Any]] = []
        self.slowest = 0.0
        self.current: object = None

    async def run(self) -> None:
        with self.counting_failures():
            await getattr(self, f"_{self.target}")()

    @contextlib.contextmanager
    def counting_failures(self) -> Iterator[None]:
        """Count and keep what escapes (a pyo3 PanicException is a BaseException too)."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        kind = "property" if isinstance(exc, AssertionError) else "escaped"
        self.counts[kind] += 1
        if len(self.failures) < FAILURES_KEPT:
            self.failures.append(
                {
                    "kind": kind,
                    "target": self.target,
                    "block": self.number,
                    "error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:500],
                    "traceback": traceback.format_exception(exc)[-12:],
                    "input": _show(self.current),
                }
            )

    async def _decode(self) -> None:
        for _ in range(DECODE_BLOCK):
            frame = self.current = fuzz_frame(self.rng, self.corpus)
            with self.counting_failures():  # the decoder keeps no state: go on after one
                self.counts["decoded" if check_decode(frame) else "refused"] += 1
            self.counts["inputs"] += 1

    async def _apply(self) -> None:
        populated, role = bool(self.number % 2), ROLES[(self.number // 2) % 3]
        with tempfile.TemporaryDirectory(dir=STORE_ROOT) as folder:
            path = Path(folder) / "replica" if self.number % 10 == 9 else None
            target = ApplyTarget(self.corpus, role=role, populated=populated, path=path)
            await target.start()
            while self.counts["inputs"] < APPLY_BLOCK:
                size = 1 if self.rng.random() < 0.75 else self.rng.randint(2, 5)
                items = [fuzz_update(self.rng, self.corpus) for _ in range(size)]
                self.current = items
                started = time.perf_counter()
                await target.feed(items)
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.counts["inputs"] += size
            self.current = "the checks after the block (finish)"
            await target.finish()
            self.counts.update(target.counts)

    async def _session(self) -> None:
        target = ApplyTarget(self.corpus, role=ROLES[self.number % 3], populated=True)
        await target.start()
        for _ in range(SESSIONS_PER_BLOCK):
            frames = [fuzz_frame(self.rng, self.corpus) for _ in range(self.rng.randint(1, 30))]
            self.current = frames
            self.counts["frames read"] += await run_session(target.peer, frames)
            self.counts["inputs"] += len(frames)
        self.current = "the checks after the block (finish)"
        await target.finish()


def _show(value: object) -> object:
    """An input as JSON: bytes in hex (cut at 4 KB), items as [id, hex] pairs."""
    if isinstance(value, bytes):
        return value[:4096].hex()
    if isinstance(value, list):
        return [_show(v) for v in value[:40]]
    if isinstance(value, tuple):
        return [value[0], _show(value[1])]
    return value


# -- a worker ---------------------------------------------------------------------------


def emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


async def work(seed: int, tasks: list[tuple[str, int]]) -> None:
    corpus = await build_corpus()
    for target, number in tasks:
        emit({"event": "start", "target": target, "block": number})
        block = Block(seed, target, number, corpus)
        started = time.perf_counter()
        await block.run()
        emit(
            {
                "event": "done",
                "target": target,
                "block": number,
                "seconds": time.perf_counter() - started,
                "slowest": block.slowest,
                "counts": block.counts,
                "failures": block.failures,
            }
        )


# -- the parent -------------------------------------------------------------------------


class Run:
    """Starts the workers, restarts one after a crash, and adds up their reports."""

    def __init__(self, args: argparse.Namespace, seed: int, logs: Path) -> None:
        self.args, self.seed, self.logs = args, seed, logs
        self.counts = {t: Counter[str]() for t in TARGETS}
        self.seconds: Counter[str] = Counter()
        self.slowest = 0.0
        self.failures: list[dict[str, Any]] = []
        self.crashes: list[dict[str, Any]] = []
        self.last_note = time.monotonic()

    def spawn(self, worker: int, start: int) -> subprocess.Popen[str]:
        command = [sys.executable, __file__, "--worker", str(worker), "--from-task", str(start)]
        command += ["--seed", str(self.seed), "--workers", str(self.args.workers)]
        command += [f"--{t}={getattr(self.args, t)}" for t in TARGETS]
        stderr = (self.logs / f"worker-{worker}.stderr").open("a")
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def run_worker(self, worker: int) -> None:
        tasks = schedule(self.counts_wanted(), worker, self.args.workers)
        position = 0
        while position < len(tasks):
            process = self.spawn(worker, position)
            current = None
            assert process.stdout is not None
            for line in process.stdout:
                event = json.loads(line)
                if event["event"] == "start":
                    current = (event["target"], event["block"])
                else:
                    self.add(event)
                    position += 1
                    current = None
            code = process.wait()
            if current is not None or code != 0:
                self.crashes.append({"worker": worker, "block": current, "returncode": code})
                print(f"CRASH: worker {worker} died ({code}) in block {current}", flush=True)
                position += 1  # go on after the block that crashed

    def counts_wanted(self) -> dict[str, int]:
        return {t: getattr(self.args, t) for t in TARGETS}

    def add(self, event: dict[str, Any]) -> None:
        self.counts[event["target"]].update(event["counts"])
        self.seconds[event["target"]] += event["seconds"]
        self.slowest = max(self.slowest, event["slowest"])
        self.failures += event["failures"]
        for failure in event["failures"]:
            print(f"FAILURE ({failure['kind']}) {failure['target']} block {failure['block']}:")
            print(f"  {failure['error']}", flush=True)
        if time.monotonic() - self.last_note > 30:
            self.last_note = time.monotonic()
            done = {t: self.counts[t]["inputs"] for t in TARGETS}
            print(f"... {done}", flush=True)

    def result(self, seconds: float) -> dict[str, Any]:
        per_target = {}
        for t in TARGETS:
            counts = dict(self.counts[t])
            busy = self.seconds[t]
            counts["inputs/s per worker"] = round(counts.get("inputs", 0) / busy) if busy else 0
            per_target[t] = counts
        escaped = sum(c["escaped"] for c in self.counts.values())
        broken = sum(c["property"] for c in self.counts.values())
        return {
            "seed": self.seed,
            "workers": self.args.workers,
            "seconds": round(seconds, 1),
            "inputs": sum(c["inputs"] for c in self.counts.values()),
            "inputs_per_second": round(sum(c["inputs"] for c in self.counts.values()) / seconds),
            "crashes": len(self.crashes),
            "escaped_exceptions": escaped,
            "property_failures": broken,
            "pycrdt_panics_caught": self.panics(),
            "slowest_apply_seconds": round(self.slowest, 3),
            "targets": per_target,
            "crash_blocks": self.crashes,
            "failures": self.failures[:FAILURES_KEPT],
        }

    def panics(self) -> int:
        """Rust panics pycrdt printed (each one was caught and counted as malformed)."""
        return sum(f.read_text(errors="replace").count("panicked at") for f in self.logs.iterdir())


DEFAULT_SEED = 20261202  # fixed, printed; --seed draws other inputs


def parent(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else DEFAULT_SEED
    print(f"fuzz: seed {seed}, {args.workers} workers, inputs wanted {vars_of(args)}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as logs:
        run = Run(args, seed, Path(logs))
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(run.run_worker, range(args.workers)))
        result = run.result(time.monotonic() - started)
    print_summary(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print("FUZZ-RESULT " + json.dumps(result, separators=(",", ":")), flush=True)
    bad = result["crashes"] + result["escaped_exceptions"] + result["property_failures"]
    return 1 if bad else 0


def vars_of(args: argparse.Namespace) -> dict[str, int]:
    return {t: getattr(args, t) for t in TARGETS}


def print_summary(result: dict[str, Any]) -> None:
    print(f"\nseed {result['seed']}, {result['workers']} workers, {result['seconds']} s")
    for target, counts in result["targets"].items():
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        print(f"  {target:8} {shown}")
    print(f"  inputs {result['inputs']:,} ({result['inputs_per_second']:,}/s)")
    print(
        f"  crashes {result['crashes']}, escaped exceptions {result['escaped_exceptions']},"
        f" property failures {result['property_failures']}"
    )
    print(f"  pycrdt panics caught {result['pycrdt_panics_caught']:,}")
    print(f"  slowest apply_remote call {result['slowest_apply_seconds']} s")


def replay(args: argparse.Namespace) -> int:
    """Run one block alone, in this process, with warnings shown."""
    target, number = args.replay.split(":")
    logging.basicConfig(level=logging.WARNING)

    async def run() -> Block:
        block = Block(args.seed, target, int(number), await build_corpus())
        await block.run()
        return block

    block = asyncio.run(run())
    print(json.dumps({"counts": block.counts, "failures": block.failures}, indent=2))
    return 1 if block.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decode", type=int, default=2_000_000)
    parser.add_argument("--apply", type=int, default=2_000_000)
    parser.add_argument("--session", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("--replay", help="TARGET:BLOCK, run alone (needs --seed)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--from-task", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        return replay(args)
    if args.worker is None:
        return parent(args)
    logging.getLogger("roamsync").setLevel(logging.CRITICAL)  # every bad input logs a warning
    tasks = schedule(vars_of(args), args.worker, args.workers)[args.from_task :]
    asyncio.run(work(args.seed, tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
