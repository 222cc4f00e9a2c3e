"""A check-in whose daemon is SIGKILLed after any of its steps is finished by running
``roamsync online`` again, with the policy first chosen (issue 13, 1), real processes.

The daemon kills itself at the step ``ROAMSYNC_CRASH_AT`` names (checkout.py)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.peer.daemon.checkout import CRASH_ENV

from daemons import Daemons, cli, count, wait_for

pytestmark = pytest.mark.xdist_group("daemons")


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


def phone(folder: Path, record: str) -> str:
    return str(json.loads(cli("get", folder, "contacts", record, "--json"))["phone"])


def laptop_online(hq: Path) -> bool:
    [me] = [d for d in json.loads(cli("devices", hq, "--json")) if d["name"] == "laptop"]
    return me["offline_since"] is None


@pytest.mark.parametrize("step", ["noted", "synced", "settled", "status", "config"])
def test_a_check_in_killed_after_any_step_is_finished_by_a_retry(
    daemons: Daemons, step: str
) -> None:
    hq = daemons.init("hq", "main")
    daemons.serve("hq", "--no-discovery")
    laptop = daemons.enrol("laptop", "travel")
    daemons.serve("laptop", "--no-discovery")
    acme = cli("put", hq, "contacts", "name=Acme AS")
    wait_for(lambda: count(laptop) == 1, what="the laptop to get the contact")
    cli("offline", laptop)
    cli("put", hq, "contacts", "--id", acme, "phone=main")
    cli("put", laptop, "contacts", "--id", acme, "phone=laptop")
    daemons.stop("laptop")
    daemons.serve("laptop", "--no-discovery", env={CRASH_ENV: step})

    killed = CliRunner().invoke(main, ["online", str(laptop), "--policy", "local"])
    assert killed.exit_code != 0, killed.output  # its daemon died under it
    assert daemons.stop("laptop", signal.SIGKILL) == -signal.SIGKILL
    daemons.serve("laptop", "--no-discovery")
    if step == "config":  # every step was done before the kill
        retry = CliRunner().invoke(main, ["online", str(laptop)])
        assert "not working offline" in retry.stderr
    else:
        report = json.loads(cli("online", laptop, "--policy", "central", "--json"))
        assert report["policy"] == "local"  # the one the first try chose
    wait_for(lambda: phone(hq, acme) == "laptop", what="the local policy to reach main")
    wait_for(lambda: laptop_online(hq), what="main to see the laptop back")
    assert phone(laptop, acme) == "laptop"
    assert "working offline" not in cli("status", laptop)
