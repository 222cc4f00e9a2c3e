"""Acknowledged writes survive kill -9, and the store always opens afterwards.

Five trials in ``make test`` (3 of a writer process, 2 of a ``roamsync serve``
daemon); ``make durability`` runs 200 (tests/long/test_durability_long.py).
The seed is fixed and printed (``ROAMSYNC_KILL_SEED`` replays another); every
failure names it. See tests/killtrials.py for what a trial does and checks.
"""

from __future__ import annotations

from pathlib import Path

from killtrials import SEED, Snapshot, check_figures, run_daemon_trials, run_peer_trials, verify

TRIALS = 5


def test_a_killed_writer_loses_no_acknowledged_write(tmp_path: Path) -> None:
    check_figures(run_peer_trials(tmp_path / "office", (TRIALS + 1) // 2, SEED))


async def test_a_killed_daemon_loses_no_write_its_api_acknowledged(tmp_path: Path) -> None:
    check_figures(await run_daemon_trials(tmp_path, TRIALS // 2, SEED))


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
