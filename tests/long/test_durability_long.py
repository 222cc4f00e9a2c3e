"""The long durability run (``make durability``): ``ROAMSYNC_KILL_TRIALS`` kill -9 trials
(default 200: half of a writer process, half of a ``roamsync serve`` daemon); seed
``ROAMSYNC_KILL_SEED`` (fixed by default, printed); ``ROAMSYNC_KILL_REPORT=FILE`` appends
each test's figures to FILE as JSON."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from killtrials import SEED, check_figures, run_daemon_trials, run_peer_trials

TRIALS = int(os.environ.get("ROAMSYNC_KILL_TRIALS", "200"))
pytestmark = [pytest.mark.long, pytest.mark.timeout(3600)]


def test_a_killed_writer_loses_no_acknowledged_write(tmp_path: Path) -> None:
    check_figures(run_peer_trials(tmp_path / "office", (TRIALS + 1) // 2, SEED))


async def test_a_killed_daemon_loses_no_write_its_api_acknowledged(tmp_path: Path) -> None:
    check_figures(await run_daemon_trials(tmp_path, TRIALS // 2, SEED))
