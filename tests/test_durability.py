"""An acknowledged write survives kill -9 of the peer's process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from roamsync.peer import Peer

WRITER = """
import asyncio, sys
from roamsync.peer import Peer

async def main(path):
    peer = await Peer.open(path, device="office-1", role="office")
    acme = await peer.create("contacts", {"name": "Acme"})
    print("ACK", acme, "name", "Acme", flush=True)
    for i in range(100_000):
        if i % 3 == 0:
            rid = await peer.create("contacts", {"name": f"c{i}"})
            print("ACK", rid, "name", f"c{i}", flush=True)
        else:
            await peer.update("contacts", acme, {"name": f"acme{i}", "notes": f"n{i}"})
            print("ACK", acme, "name", f"acme{i}", flush=True)

asyncio.run(main(sys.argv[1]))
"""


def _run_and_kill(path: Path, acks_wanted: int) -> list[tuple[str, str]]:
    """Run the writer, read ``acks_wanted`` acknowledgements, then SIGKILL it."""
    acked: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        try:
            while len(acked) < acks_wanted and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                _, rid, _, value = line.split()
                acked.append((rid, value))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    assert len(acked) >= acks_wanted, "the writer stopped early"
    return acked


def _number(name: str) -> int:
    return int(name.removeprefix("acme")) if name.startswith("acme") else -1


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    for trial in range(3):
        path = tmp_path / f"trial{trial}"
        acked = _run_and_kill(path, acks_wanted=40 + 25 * trial)
        acme = acked[0][0]
        async with await Peer.open(path, device="office-1", role="office") as peer:
            for rid, value in acked:
                if rid != acme:
                    assert peer.get("contacts", rid)["name"] == value
            # The last acknowledged edit, or a later one the process stored before dying.
            last_acked = max(_number(v) for r, v in acked if r == acme)
            assert _number(peer.get("contacts", acme)["name"]) >= last_acked
