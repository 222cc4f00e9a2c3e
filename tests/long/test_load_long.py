"""The long load run (``make load``): 10 daemons writing for 60 s after a 20 s warm-up;
``ROAMSYNC_LOAD_*`` changes the plan (see tests/loadrun.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadrun import Plan, run_load, timeout

PLAN = Plan.from_env(peers=10, seconds=60.0, warm_up=20.0)
pytestmark = pytest.mark.long


@pytest.mark.timeout(timeout(PLAN))
async def test_load(tmp_path: Path) -> None:
    await run_load(tmp_path, PLAN)
