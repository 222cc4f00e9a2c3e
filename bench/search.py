"""Search at scale: ``Peer.search`` over N contacts (issue 13: p95 under 50 ms at 100k).

    .venv/bin/python bench/search.py [N] [--json FILE]

Creates N contacts with names, e-mails, cities and notes drawn from small word
lists (so that a word matches many records, as a company name or a city does),
then times 300 searches of one or two words, whole or a prefix, and reports
p50, p95 and max in milliseconds, and how many records the searches found.
Also times opening a store made before search (its records indexed once).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from benchlib import log, main_with_n, percentile

from roamsync.peer import Peer

FIRST = ["Anna", "Bjørn", "Cecilie", "Dag", "Eva", "Frode", "Gro", "Hans", "Ida", "Jon"]
LAST = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Berg"]
CITY = ["Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Drammen", "Fredrikstad"]
TRADE = ["Bygg", "Elektro", "Rør", "Transport", "Regnskap", "Data", "Maling", "Handel"]


def contact(rng: random.Random, i: int) -> dict[str, object]:
    first, last, city, trade = (rng.choice(x) for x in (FIRST, LAST, CITY, TRADE))
    return {
        "name": f"{last} {trade} AS {i}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.no",
        "address": f"Storgata {i % 200}, {city}",
        "notes": f"Contact: {first} {last}. Customer since {2000 + i % 25}.",
    }


def queries(rng: random.Random, n: int) -> list[str]:
    words = [*FIRST, *LAST, *CITY, *TRADE]
    out = []
    for _ in range(n):
        word = rng.choice(words)
        kind = rng.random()
        if kind < 0.3:
            out.append(word)
        elif kind < 0.6:
            out.append(word[:3])  # a prefix, as someone typing
        else:
            out.append(f"{word} {rng.choice(words)}")
    return out


async def run(n: int) -> dict[str, float]:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="roamsync-search-") as tmp:
        peer = await Peer.open(Path(tmp) / "hq", device="hq", role="main")
        t0 = time.perf_counter()
        for i in range(n):
            await peer.create("contacts", contact(rng, i))
            if (i + 1) % 20_000 == 0:
                log(f"  created {i + 1}/{n} ({time.perf_counter() - t0:.0f} s)")
        times, found = [], 0
        for text in queries(rng, 300):
            t = time.perf_counter()
            found += len(peer.search("contacts", text))
            times.append((time.perf_counter() - t) * 1000)
        await peer.close()
        # A store made before search: drop the index, then time the open that rebuilds it.
        import sqlite3

        db = sqlite3.connect(Path(tmp) / "hq" / "roamsync.sqlite3")
        db.executescript("DROP TABLE search; DROP TABLE search_keys;")
        db.close()
        t = time.perf_counter()
        peer = await Peer.open(Path(tmp) / "hq", device="hq", role="main")
        reindex_s = time.perf_counter() - t
        check = len(peer.search("contacts", "oslo"))
        await peer.close()
    result = {
        "n": n,
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "max_ms": max(times),
        "found_per_search": found / len(times),
        "reindex_s": reindex_s,
        "found_after_reindex": check,
    }
    log(json.dumps(result))
    return result


if __name__ == "__main__":
    main_with_n(run, 100_000)
