"""Small parts of the command line: how values print, which daemon.json counts as a daemon."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from roamsync.peer.api.client import daemon_info
from roamsync.peer.cli.render import cell


def test_only_time_columns_print_as_times() -> None:
    assert cell(12345678901.5, "quantity") == "12345678901.5"  # a number, not a date
    assert cell(1e19) == "1e+19"
    assert cell(1e308, "last_seen") == "1e+308"  # out of range for a time: shown as it is
    assert cell(1_800_000_000.0, "last_seen").startswith("2027-01-15")
    assert cell(None) == ""
    assert cell({"a": 1}) == '{"a":1}'


@pytest.mark.parametrize(
    "info",
    [
        {"pid": "1234", "port": 1, "token": "t"},  # a string
        {"pid": 0, "port": 1, "token": "t"},  # 0 signals the whole process group
        {"pid": -1, "port": 1, "token": "t"},
        {"pid": "me", "token": "t"},  # no port
        {"pid": "me", "port": 1},  # no token
        ["not", "an", "object"],
    ],
)
def test_a_malformed_daemon_file_is_no_daemon(tmp_path: Path, info: object) -> None:
    if isinstance(info, dict) and info.get("pid") == "me":
        info["pid"] = os.getpid()
    (tmp_path / "daemon.json").write_bytes(orjson.dumps(info))
    assert daemon_info(tmp_path) is None


def test_a_well_formed_daemon_file_of_a_live_process_is_a_daemon(tmp_path: Path) -> None:
    info = {"pid": os.getpid(), "port": 7000, "token": "t", "sync_port": 7420}
    (tmp_path / "daemon.json").write_bytes(orjson.dumps(info))
    assert daemon_info(tmp_path) == info
