"""A small load run in ``make test``: 4 daemons writing for 6 s (see tests/loadrun.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadrun import Plan, run_load, timeout

PLAN = Plan(peers=4, seconds=6.0, warm_up=2.0)


@pytest.mark.xdist_group("daemons")  # timing-sensitive: not beside each other
@pytest.mark.timeout(timeout(PLAN))
async def test_load(tmp_path: Path) -> None:
    await run_load(tmp_path, PLAN)
