"""A short chaos round in ``make test`` (``tests/chaosrun.py`` says what a round does and
checks), and the checks' own test: each must find the fault it looks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from roamsync.transport.memory import sync

from chaoslib import (
    StoreContents,
    read_store,
)
from chaosrun import (
    SEED,
    SETTLE,
    Attempt,
    check_report,
    decode_writes,
    divergences,
    lost_writes,
    number_problems,
    run_round,
)
from conftest import OpenPeer

SECONDS = 12.0  # of chaos; ``make chaos`` runs 300 s rounds (tests/long/test_chaos_long.py)


@pytest.mark.xdist_group("daemons")  # timing-sensitive: not beside each other
@pytest.mark.timeout(SECONDS + SETTLE + 240)
async def test_a_short_chaos_round(tmp_path: Path) -> None:
    check_report(await run_round(tmp_path, SEED, SECONDS, 5))


async def test_the_checks_find_what_they_look_for(open_peer: OpenPeer, tmp_path: Path) -> None:
    """The end-of-run checks on a small real history: silent when all is well, and
    each reports the fault it is for."""
    hq, a, b = await open_peer("hq", "main"), await open_peer("a"), await open_peer("b")
    acme = await a.create("contacts", {"name": "Acme"})
    await sync(a, b)
    await a.update("contacts", acme, {"phone": "from a"})
    await b.update("contacts", acme, {"phone": "from b"})
    order = await b.create("orders", {"contact": acme, "title": "t"})
    for x, y in [(a, b), (b, hq), (hq, a), (a, b)]:
        await sync(x, y)
    contents = read_store(tmp_path / "a")
    writes = decode_writes(contents)
    roles = {"hq": "main", "a": "office", "b": "office"}
    row, episodes = contents.records[acme], [e for r, e in contents.conflicts if r == acme]
    assert divergences(acme, row, writes[acme], roles, episodes) == []
    assert number_problems(contents) == []

    view = orjson.loads(row["view"])
    view["fields"]["phone"] = "from a" if view["fields"]["phone"] == "from b" else "from b"
    assert divergences(acme, {**row, "view": orjson.dumps(view)}, writes[acme], roles, episodes)
    assert divergences(acme, row, writes[acme], roles, [])  # the open conflict is not logged

    def tried(value: str, outcome: str) -> Attempt:
        return Attempt("a", "update", "contacts", acme, {"phone": value}, "api", outcome)

    ids = {"a": "a", "b": "b"}
    assert lost_writes([tried("from a", "acked")], ids, writes) == []
    assert lost_writes([tried("from a", "acked"), tried("later", "refused")], ids, writes) == []
    assert lost_writes([tried("x", "acked"), tried("from a", "unknown")], ids, writes) == []
    assert lost_writes([tried("from a", "acked"), tried("newer", "acked")], ids, writes)
    assert lost_writes([tried("never", "unknown")], ids, writes)  # a value nobody sent

    numbered = contents.records[order]
    twice = {**contents.records, "copy": {**numbered, "number": numbered["number"]}}
    assert number_problems(StoreContents(twice, [], []))
    unnumbered: dict[str, dict[str, Any]] = {order: {**numbered, "number": "P-b-1"}}
    assert number_problems(StoreContents(unnumbered, [], []))
