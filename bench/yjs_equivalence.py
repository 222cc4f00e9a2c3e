"""The long equivalence run of ``peer/record/yjs.py``'s fast ``check_update`` against the plain
reference it replaced (``tests/yjs_reference.py``), and the two timed side by side.

    .venv/bin/python bench/yjs_equivalence.py [--inputs 1000000] [--seed S] [--items PICKLE]
    .venv/bin/python bench/yjs_equivalence.py --fresh [--inputs N] [--seed S]

``--fresh`` checks ``read_fresh`` instead: wherever it reads an input (records
as created, built by ``tests/yjs_fresh.py``, those mutated, mutated real
updates), it must read what pycrdt reads, and ``check_update`` must accept it.

Feeds ``--inputs`` seeded inputs to both: mutated real updates (the fuzzing corpus
of ``tests/fuzzing.py``), updates built field by field (``tests/yjs_updates.py``),
those mutated, real updates cut short, and random bytes. Every input must give the
same reach from both, or ``ValueError`` from both; anything else is a mismatch
(the first few printed in hex) and the exit status is 1. Input ``i`` comes from
``Random(f"{seed}/{i}")``, so a mismatch can be made again alone.

Then it times both over real record updates: 2,000 six-field contacts made by a
peer, or the ``(record id, update)`` pairs pickled at ``--items``. The last line
is ``YJS-EQUIVALENCE {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from benchlib import contact  # noqa: E402

from roamsync.peer.record.yjs import Fresh, check_update, read_fresh  # noqa: E402

from fuzzing import build_corpus, memory_peer, mutate  # noqa: E402 (the harness is in tests/)
from yjs_fresh import accepted_by_check_update, fresh_update, pycrdt_reading  # noqa: E402
from yjs_reference import check_update as reference  # noqa: E402
from yjs_updates import yjs_update  # noqa: E402

Check = Callable[[bytes], dict[int, int]]


def make_input(rng: random.Random, real: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.35:
        return mutate(rng.choice(real), rng, real, rng.choice((1, 1, 2, 4)))
    if roll < 0.6:
        return yjs_update(rng)
    if roll < 0.85:
        return mutate(yjs_update(rng), rng, real, rng.choice((1, 2)))
    if roll < 0.95:
        update = rng.choice(real)
        return update[: rng.randrange(len(update) + 1)]
    return rng.randbytes(rng.randint(0, 64))


def outcome(check: Check, update: bytes) -> dict[int, int] | str:
    try:
        return check(update)
    except ValueError:
        return "refused"


def compare(inputs: int, seed: str, real: list[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for i in range(inputs):
        update = make_input(random.Random(f"{seed}/{i}"), real)
        try:
            new, old = outcome(check_update, update), outcome(reference, update)
        except Exception as exc:  # neither may raise anything but ValueError
            new, old = f"{type(exc).__name__}: {exc}", "?"
        if new != old:
            counts["mismatch"] += 1
            if counts["mismatch"] <= 5:
                print(f"MISMATCH input {i}: {update.hex()}\n  fast {new!r}\n  reference {old!r}")
        else:
            counts["refused" if new == "refused" else "accepted"] += 1
        if (i + 1) % 100_000 == 0:
            print(f"{i + 1} inputs: {dict(counts)}", flush=True)
    return counts


def compare_fresh(inputs: int, seed: str, real: list[bytes]) -> Counter[str]:
    """``read_fresh`` against pycrdt, input ``i`` from ``Random(f"{seed}/{i}")``."""
    counts: Counter[str] = Counter()
    for i in range(inputs):
        rng = random.Random(f"{seed}/{i}")
        roll = rng.random()
        update = fresh_update(rng)
        if roll >= 0.5:
            base = update if roll < 0.75 else rng.choice(real)
            update = mutate(base, rng, real, rng.choice((1, 2)))
        fresh: Fresh | str | None  # what read_fresh said, or the exception it raised
        try:
            fresh = read_fresh(update)
            same = fresh is None or (
                accepted_by_check_update(update) and fresh == pycrdt_reading(update)
            )
        except Exception as exc:  # read_fresh answers or says None; pycrdt must read it
            same, fresh = False, f"{type(exc).__name__}: {exc}"
        if not same:
            counts["mismatch"] += 1
            if counts["mismatch"] <= 5:
                print(f"MISMATCH input {i}: {update.hex()}\n  read_fresh {fresh!r}")
        else:
            counts["pycrdt reads it" if fresh is None else "read alike"] += 1
        if (i + 1) % 100_000 == 0:
            print(f"{i + 1} inputs: {dict(counts)}", flush=True)
    return counts


async def contact_updates(n: int) -> list[bytes]:
    peer = memory_peer("bench", "main", 1234, time.time)
    for i in range(n):
        await peer.create("contacts", contact(i))
    updates = [state for _, _, state in peer.changes(0, n + 10)]
    await peer.close()
    return updates


def per_update_us(check: Check, updates: list[bytes], rounds: int = 7) -> float:
    """The best of ``rounds`` passes over all updates, in µs per update."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for update in updates:
            check(update)
        best = min(best, time.perf_counter() - start)
    return best / len(updates) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", default=str(random.randrange(2**32)))
    parser.add_argument("--items", type=Path, help="a pickle of (record id, update) pairs")
    parser.add_argument("--fresh", action="store_true", help="check read_fresh against pycrdt")
    args = parser.parse_args()
    real = [update for _, update in asyncio.run(build_corpus()).updates]
    if args.fresh:
        start = time.perf_counter()
        counts = compare_fresh(args.inputs, args.seed, real)
        seconds = time.perf_counter() - start
        print(f"seed {args.seed}: {args.inputs} inputs in {seconds:.0f} s, {dict(counts)}")
        print("YJS-FRESH " + json.dumps({"seed": args.seed, "inputs": args.inputs, **counts}))
        return 1 if counts["mismatch"] else 0
    start = time.perf_counter()
    counts = compare(args.inputs, args.seed, real)
    seconds = time.perf_counter() - start
    print(f"seed {args.seed}: {args.inputs} inputs in {seconds:.0f} s, {dict(counts)}")
    if args.items:
        updates = [update for _, update in pickle.loads(args.items.read_bytes())]
    else:
        updates = asyncio.run(contact_updates(2000))
    assert all(check_update(u) == reference(u) for u in updates)
    timing = {"reference_us": per_update_us(reference, updates)}
    timing["fast_us"] = per_update_us(check_update, updates)
    size = sum(map(len, updates)) / len(updates)
    print(f"{len(updates)} record updates of {size:.0f} bytes on average: ", end="")
    print(f"reference {timing['reference_us']:.2f} µs, fast {timing['fast_us']:.2f} µs per update")
    result = {"seed": args.seed, "inputs": args.inputs, **counts, **timing}
    print("YJS-EQUIVALENCE " + json.dumps(result))
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())
