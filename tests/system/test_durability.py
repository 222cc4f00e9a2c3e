"""Acknowledged writes survive kill -9, and the store always opens afterwards.

``ROAMSYNC_KILL_TRIALS`` trials (default 5: 3 of a writer process, 2 of a
``roamsync serve`` daemon, about 30 s); ``make durability`` runs 200.
``ROAMSYNC_KILL_SEED`` replays a run; every failure names its seed. With
``ROAMSYNC_KILL_REPORT=FILE`` each test appends its figures to FILE as JSON.
See tests/killtrials.py for what a trial does and checks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path

from killtrials import Figures, Snapshot, run_daemon_trials, run_peer_trials, verify

TRIALS = int(os.environ.get("ROAMSYNC_KILL_TRIALS", "5"))
SEED = int(os.environ.get("ROAMSYNC_KILL_SEED") or random.SystemRandom().randrange(1 << 32))


def _report(figures: Figures) -> None:
    print(figures.line())
    if path := os.environ.get("ROAMSYNC_KILL_REPORT"):
        with open(path, "a") as out:
            out.write(json.dumps(dataclasses.asdict(figures)) + "\n")


def test_a_killed_writer_loses_no_acknowledged_write(tmp_path: Path) -> None:
    figures = run_peer_trials(tmp_path / "office", (TRIALS + 1) // 2, SEED)
    _report(figures)
    assert figures.lost == 0
    assert figures.failed_opens == 0
    assert figures.acked >= 10 or TRIALS < 2, "no trial got a write acknowledged"


async def test_a_killed_daemon_loses_no_write_its_api_acknowledged(tmp_path: Path) -> None:
    figures = await run_daemon_trials(tmp_path, TRIALS // 2, SEED)
    _report(figures)
    assert figures.lost == 0
    assert figures.failed_opens == 0
    assert figures.acked >= 10 or TRIALS < 2, "no trial got a write acknowledged"


def _snap(**contacts: dict[str, object]) -> Snapshot:
    base = {"deleted": False, "name": "n", "phone": None, "email": None, "notes": "x"}
    return Snapshot({rid: base | c for rid, c in contacts.items()}, rows=len(contacts))


def test_the_check_finds_a_lost_write_and_allows_only_the_write_in_flight() -> None:
    """The checker itself: it must be able to fail."""
    before = _snap(a={})
    update = {"kind": "update", "id": "a", "fields": {"phone": "1"}}
    later = {"kind": "update", "id": "a", "fields": {"phone": "2", "notes": "y"}}
    create = {"kind": "create", "id": None, "fields": {"name": "new", "notes": "z"}}
    assert verify(before, [update], [], _snap(a={"phone": "1"})) == []
    assert verify(before, [update], [], _snap(a={})) != []  # lost
    assert verify(before, [update], [later], _snap(a={"phone": "2", "notes": "y"})) == []
    assert verify(before, [update], [later], _snap(a={"phone": "2"})) != []  # half a write
    assert verify(before, [update], [create], _snap(a={"phone": "1"}, b={"name": "new"})) != []
    landed = _snap(a={"phone": "1"}, b={"name": "new", "notes": "z"})
    assert verify(before, [update], [create], landed) == []
    assert verify(before, [], [], Snapshot()) != []  # a record vanished
    twice = Snapshot(orders={"o1": "1", "o2": "1"})
    assert "twice" in verify(Snapshot(), [], [], twice)[0]
