"""The hybrid logical clock and the wall-clock skew used by the chaos tests."""

from __future__ import annotations

import time

import pytest

from roamsync.peer.core.clock import SKEW_ENV, HybridClock, system_wall, to_millis


def test_never_goes_backwards_and_stays_after_what_it_observed() -> None:
    wall = [100.0]
    clock = HybridClock(wall=lambda: wall[0])
    first = clock.now()
    wall[0] = 50.0  # the wall clock jumps back
    assert clock.now() > first
    clock.observe(first + 1000)
    assert clock.now() > first + 1000
    assert to_millis(clock.now()) >= 100_000


def test_system_wall_is_time_time_without_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKEW_ENV, raising=False)
    assert system_wall() is time.time


def test_system_wall_applies_the_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SKEW_ENV, "-3600")
    assert abs(system_wall()() - (time.time() - 3600)) < 5
    monkeypatch.setenv(SKEW_ENV, "soon")
    with pytest.raises(ValueError, match=SKEW_ENV):
        system_wall()
