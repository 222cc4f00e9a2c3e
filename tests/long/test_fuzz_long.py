"""The long fuzzing run (``bench/fuzz.py``, 4.2M inputs on 2 workers by default) as a test:
no crash, no escaped exception, no property failure. ``ROAMSYNC_FUZZ_ARGS`` replaces the
script's arguments (e.g. ``--seed 7 --apply 200000``)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
pytestmark = [pytest.mark.long, pytest.mark.timeout(4 * 3600)]


def test_the_long_fuzzing_run_finds_nothing() -> None:
    args = shlex.split(os.environ.get("ROAMSYNC_FUZZ_ARGS", ""))
    done = subprocess.run(
        [sys.executable, str(FUZZ), *args], capture_output=True, text=True, check=False
    )
    print(done.stdout[-3000:])
    [line] = [x for x in done.stdout.splitlines() if x.startswith("FUZZ-RESULT ")]
    result = json.loads(line.removeprefix("FUZZ-RESULT "))
    assert result["crashes"] == 0, result
    assert result["escaped_exceptions"] == 0, result
    assert result["property_failures"] == 0, result
    assert done.returncode == 0, done.stderr[-3000:]
