"""Real ``roamsync`` processes for the tests: the command, a CLI call, serving daemons.

Every process is started with a bounded wait for its "serving" line and
stopped with SIGTERM (which must exit cleanly) or SIGKILL; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from roamsync.peer.cli import main
from roamsync.peer.org.config import load_config, save_config

ROAMSYNC = [sys.executable, "-c", "from roamsync.peer.cli import entry; entry()"]


def cli(*args: str | Path, check: bool = True) -> str:
    """A ``roamsync`` command run in this process (the daemons are processes of their own);
    its output. A process start costs half a second of imports; the code is the same."""
    done = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    if check and done.exit_code != 0:
        raise AssertionError(f"roamsync {args} failed: {done.stderr}")
    return done.stdout.strip()


def wait_for(condition: Callable[[], bool], limit: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def count(folder: Path, module: str = "contacts") -> int:
    """Records in a store, read directly (WAL lets a reader in while the daemon writes)."""
    path = folder / "roamsync.sqlite3"
    if not path.exists():
        return 0
    # closing(): a connection left open reads stale shared memory after the daemon restarts
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        sql = "SELECT count(*) FROM records WHERE module = ? AND deleted = 0"
        return int(db.execute(sql, (module,)).fetchone()[0])


class Daemons:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.ports: dict[str, int] = {}
        self.company = f"Acme {uuid.uuid4().hex[:8]}"

    def serve(self, name: str, *extra: str, env: dict[str, str] | None = None) -> int:
        log = open(self.root / f"{name}.out", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [*ROAMSYNC, "serve", str(self.root / name), *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.procs[name] = proc
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        log.close()
        assert "serving" in line, (self.root / f"{name}.out").read_text()
        self.ports[name] = int(line.rsplit(":", 1)[1])
        return self.ports[name]

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
        return code

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)

    def init(self, name: str, role: str) -> Path:
        folder = self.root / name
        args: list[str | Path]
        args = ["init", folder, "--device", name, "--role", role, "--company", self.company]
        if role == "main":  # the connection criteria: a complete company profile
            args += ["--address", "Storgata 1, Oslo", "--phone", "+47 22 00 00 00"]
            args += ["--email", "post@acme.no", "--org-number", "912345678"]
        cli(*args, "--port", "0")
        return folder

    def enrol(self, name: str, role: str = "office", discovery_only: bool = False) -> Path:
        folder = self.init(name, role)
        code = cli("invite", self.root / "hq", "--role", role)
        cli("join", folder, code, "--peer", f"127.0.0.1:{self.ports['hq']}")
        if discovery_only:  # forget main's address: find peers by zeroconf alone
            config = load_config(folder)
            config.peers = []
            save_config(folder, config)
        return folder
