"""Initial syncs with signed writes: from main, and from another device.

    .venv/bin/python bench/signed_sync.py [N] [--json FILE]

Main creates N contacts; an office device joins and syncs them all from main
over loopback mutual TLS (``from_main``: main's sessions are vouched for, so
nothing is verified). Then a new replica syncs them all from the office's store
over a plain websocket with two sessions, checking them against the office's
registry (``from_office``): a replica verifies what any device but main sends.
It knows main's key (pinned at join) and learns the rest from what the office
sends first: the registry, and main's seals, which list the digests of the
slots main signed, so that a sealed slot needs no signature check (one check
per seal of 2,048 slots instead of one per record). Everything runs in this
one process.

Run it with the code before signed writes and after, alternating, to compare
in one run (``bench/signed_compare.sh BEFORE_DIR``); it uses only the public API both
have. Also timed: N ``Peer.create`` on main (each write signs its slot).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchlib import Company, Pair, WsServer, fill, log, main_with_n, until_count

from roamsync.peer import Peer
from roamsync.peer.org.config import load_config

try:
    from roamsync.peer.org.registry import RegistryKeys
except ImportError:  # the code before signed writes
    RegistryKeys = None  # type: ignore[assignment,misc]


async def run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="roamsync-signed-") as tmp:
        root = Path(tmp)
        company = Company(root)
        limit = max(120.0, n / 100)
        try:
            hq = await company.main("hq")
            t0 = time.perf_counter()
            await fill(hq.peer, n, label="hq ")
            create_s = time.perf_counter() - t0
            if hasattr(hq.peer, "seal"):  # main seals what is left (its sealer does, within 5 s)
                await hq.peer.seal()
            office_dir = await company.enrol(hq, "office")
            t0 = time.perf_counter()
            office = await company.start(office_dir)
            await until_count(office.peer, "contacts", n, limit)
            from_main = time.perf_counter() - t0
        finally:
            await company.stop()
        config = load_config(office_dir)
        source = await Peer.open(office_dir, device=config.device, role="office")
        target = await Peer.open(root / "laptop", device="laptop", role="office")
        if hasattr(target, "verify_with"):  # the code with signed writes: check them
            target.verify_with(RegistryKeys(target, config.main_device, config.trusted))
        try:
            async with WsServer() as server:
                t0 = time.perf_counter()
                near, far = await server.pair()
                pair = Pair(source, target, near, far)
                await until_count(target, "contacts", n, limit)
                from_office = time.perf_counter() - t0
                await pair.close()
            refused = len(target.rejections())
        finally:
            await target.close()
            await source.close()
    result = {
        "n": n,
        "create_s": create_s,
        "from_main_s": from_main,
        "from_office_s": from_office,
        "refused": refused,
    }
    log(json.dumps(result))
    return result


if __name__ == "__main__":
    main_with_n(run, 100_000)
