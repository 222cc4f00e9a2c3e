"""The long chaos runs (``make chaos``): ``ROAMSYNC_CHAOS_ROUNDS`` rounds (default 3) of
``ROAMSYNC_CHAOS_SECONDS`` (default 300) with ``ROAMSYNC_CHAOS_PEERS`` daemons (5), seeds
``ROAMSYNC_CHAOS_SEED`` + round (default 20261202 + round, printed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosrun import SEED, SETTLE, check_report, run_round

SECONDS = float(os.environ.get("ROAMSYNC_CHAOS_SECONDS", "300"))
PEERS = int(os.environ.get("ROAMSYNC_CHAOS_PEERS", "5"))
ROUNDS = int(os.environ.get("ROAMSYNC_CHAOS_ROUNDS", "3"))

pytestmark = pytest.mark.long


@pytest.mark.timeout(SECONDS + SETTLE + 240)
@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_chaos(tmp_path: Path, round_: int) -> None:
    check_report(await run_round(tmp_path, SEED + round_, SECONDS, PEERS))
