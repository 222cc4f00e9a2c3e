"""A damaged store: a clear error at open (never an empty store), and `roamsync repair`.

Each kind of damage is made on a real store file of an office device that
had synced with main. Opening must raise StoreDamagedError naming the file
and `roamsync repair`, leaving the file as it was; repair must keep the
damaged file, salvage what is readable, and one sync with main must make
the office complete again.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from roamsync.peer import Peer
from roamsync.peer.replica.repair import RepairReport, repair_store
from roamsync.peer.store import STORE_FILE, RecordRow, SqliteStore
from roamsync.peer.store.meta import STORE_ID
from roamsync.peer.store.sqlite import id_file
from roamsync.schema import StoreDamagedError, StoreError, UsageError
from roamsync.schema.errors import exit_code
from roamsync.transport.channel import memory_pair
from roamsync.transport.memory import sync
from roamsync.transport.protocol import Hello, decode, encode
from roamsync.transport.session import Session

from conftest import FakeClock
from daemons import ROAMSYNC

MODULES = ("contacts", "orders", "devices")
LONG_NOTE = "a long note that spills into overflow pages. " * 120  # about 5.5 KB


async def _office_and_main(root: Path, clock: FakeClock) -> tuple[Peer, Peer]:
    """Main and an office device, synced, with contacts (notes, a few long), edits,
    deletes and provisional orders; the office's store spans dozens of pages."""
    hq = await Peer.open(root / "hq", device="hq", role="main", clock=clock)
    office = await Peer.open(root / "office", device="office", role="office", clock=clock)
    for i in range(20):
        await hq.create("contacts", {"name": f"hq {i}", "notes": f"from main {i}"})
    await sync(hq, office)
    ids = []
    for i in range(60):
        note = LONG_NOTE if i % 10 == 0 else f"note {i}"
        ids.append(await office.create("contacts", {"name": f"c{i}", "notes": note}))
    for rid in ids[:10]:
        await office.update("contacts", rid, {"phone": "+47 1", "notes": "edited"})
    for rid in ids[50:55]:
        await office.delete("contacts", rid)
    for _ in range(3):
        await office.create("orders", {"contact": ids[1], "total": "12.50"})
    await sync(hq, office)
    return hq, office


def _snapshot(peer: Peer) -> dict[str, list[dict[str, object]]]:
    return {m: peer.list(m) for m in MODULES}


def _garbage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rnd = random.Random(7)
    pages = len(data) // 4096
    for page in (2, pages // 3, pages // 2, pages - 2):
        data[page * 4096 : (page + 1) * 4096] = rnd.randbytes(4096)
    path.write_bytes(bytes(data))


def _overwrite(path: Path, at: int, new: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(at)
        f.write(new)


DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncated-to-nothing": lambda p: os.truncate(p, 0),
    "garbage-pages": _garbage_pages,
    "wrong-header": lambda p: _overwrite(p, 0, b"Not SQLite, sorry"),
    "zeros": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    "missing": lambda p: p.unlink(),
}
# How many of the office's records repair must get back before any sync.
SALVAGED_AT_LEAST = {
    "truncated": 0.25,
    "truncated-to-nothing": 0,
    "garbage-pages": 0.6,
    "wrong-header": 1.0,
    "zeros": 0,
    "missing": 0,
}


def _records(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])


@pytest.mark.parametrize("kind", list(DAMAGE))
async def test_damage_is_reported_then_repaired_and_resynced(
    tmp_path: Path, clock: FakeClock, kind: str
) -> None:
    hq, office = await _office_and_main(tmp_path, clock)
    expected = _snapshot(hq)
    assert expected == _snapshot(office)
    await office.close()
    path = tmp_path / "office" / STORE_FILE
    total = _records(path)
    DAMAGE[kind](path)
    damaged = path.read_bytes() if path.exists() else None

    with pytest.raises(StoreDamagedError) as info:
        await Peer.open(tmp_path / "office", device="office", role="office", clock=clock)
    assert str(path) in str(info.value)
    assert f"roamsync repair {path.parent}" in str(info.value)
    assert (path.read_bytes() if path.exists() else None) == damaged  # left as it was

    report = await repair_store(tmp_path / "office", device="office", role="office")
    kept = report.aside / STORE_FILE
    assert (kept.read_bytes() if kept.exists() else None) == damaged  # kept, untouched
    assert report.records >= SALVAGED_AT_LEAST[kind] * total
    assert report.unreadable == 0

    office = await Peer.open(tmp_path / "office", device="office", role="office", clock=clock)
    try:
        salvaged = _snapshot(office)
        for module, rows in salvaged.items():  # nothing invented
            assert {r["id"] for r in rows} <= {r["id"] for r in expected[module]}
        if SALVAGED_AT_LEAST[kind] == 1.0:
            assert salvaged == expected
        await sync(hq, office)
        assert _snapshot(office) == expected == _snapshot(hq)
        # The repaired office writes on, and it reaches main.
        new = await office.create("contacts", {"name": "after the repair"})
        await sync(hq, office)
        assert hq.get("contacts", new)["name"] == "after the repair"
    finally:
        await office.close()
        await hq.close()


async def _repaired(
    tmp_path: Path, clock: FakeClock, damage: Callable[[Path], object]
) -> tuple[Peer, Peer, dict[str, list[dict[str, object]]], RepairReport]:
    """Main, and the office after ``damage`` to its store and a repair; main's records."""
    hq, office = await _office_and_main(tmp_path, clock)
    expected = _snapshot(hq)
    await office.close()
    damage(tmp_path / "office" / STORE_FILE)
    report = await repair_store(tmp_path / "office", device="office", role="office")
    office = await Peer.open(tmp_path / "office", device="office", role="office", clock=clock)
    return hq, office, expected, report


async def test_repair_brings_back_what_only_the_peers_still_had(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The salvage misses records; without the new store id in the hello main would
    never send them again (its checkpoint says the office has them)."""
    third = lambda p: os.truncate(p, p.stat().st_size // 3)  # noqa: E731
    hq, office, expected, report = await _repaired(tmp_path, clock, third)
    try:
        missing = sum(len(expected[m]) - office.count(m) for m in MODULES)
        assert missing > 0, "the damage took nothing; damage more"
        assert office.store_id == report.store_id != hq.store.meta("store:office")
        assert office.checkpoint("hq") == 0
        assert hq.checkpoint("office") > 0
        await sync(hq, office)
        assert _snapshot(office) == expected
    finally:
        await office.close()
        await hq.close()


async def test_a_session_resends_everything_to_a_repaired_peer(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The same through real Session objects: the hello carries the new store id."""
    hq, office, expected, _ = await _repaired(tmp_path, clock, DAMAGE["zeros"])
    near, far = memory_pair()
    sessions = [Session(hq, near, company="acme"), Session(office, far, company="acme")]
    tasks = [asyncio.create_task(s.run()) for s in sessions]
    try:
        async with asyncio.timeout(20):
            while not all(s.caught_up() for s in sessions):  # noqa: ASYNC110 (two peers)
                await asyncio.sleep(0.01)
        assert _snapshot(office) == expected
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await office.close()
        await hq.close()


def test_the_hello_carries_the_store_id_and_old_hellos_still_decode() -> None:
    hello = decode(encode(Hello("a", "office", "acme", store="0123abcd")))
    assert isinstance(hello, Hello)
    assert hello.store == "0123abcd"
    old = decode(b'\x01{"device":"a","role":"office","company":"acme","versions":[1]}')
    assert isinstance(old, Hello)
    assert old.store == ""


async def test_repair_refuses_a_healthy_store_unless_forced(
    tmp_path: Path, clock: FakeClock
) -> None:
    peer = await Peer.open(tmp_path / "d", device="d", role="office", clock=clock)
    rid = await peer.create("contacts", {"name": "kept"})
    old_id = peer.store_id
    await peer.close()
    with pytest.raises(UsageError, match="not damaged"):
        await repair_store(tmp_path / "d", device="d", role="office")
    report = await repair_store(tmp_path / "d", device="d", role="office", force=True)
    assert report.records == 1
    async with await Peer.open(tmp_path / "d", device="d", role="office") as peer:
        assert peer.get("contacts", rid)["name"] == "kept"
        assert peer.store_id != old_id


async def test_repair_takes_nothing_from_another_devices_store(
    tmp_path: Path, clock: FakeClock
) -> None:
    for device in ("mine", "other"):
        async with await Peer.open(tmp_path / device, device=device, role="office") as peer:
            await peer.create("contacts", {"name": f"of {device}"})
    shutil.copy(tmp_path / "other" / STORE_FILE, tmp_path / "mine" / STORE_FILE)
    with pytest.raises(StoreDamagedError, match="it was replaced"):
        await Peer.open(tmp_path / "mine", device="mine", role="office")
    report = await repair_store(tmp_path / "mine", device="mine", role="office")
    assert (report.owner, report.records) == ("other", 0)


async def test_a_new_store_killed_before_its_id_file_opens_as_new(tmp_path: Path) -> None:
    """A store with no id file yet is a store still being created: no false alarm."""
    path = tmp_path / STORE_FILE
    path.write_bytes(b"")  # sqlite3.connect made the file, then the process died
    store = SqliteStore(path)
    try:
        assert id_file(path).read_text().strip() == store.meta(STORE_ID)
    finally:
        store.close()


# -- the write-ahead log: torn, lost or garbled, the store still opens ----------------------


async def _crash_copy(tmp_path: Path, n: int, checkpointed: int = 0) -> tuple[Path, Path]:
    """A store with ``n`` one-record commits, copied with its -wal while open (as a
    kill -9 leaves it), the first ``checkpointed`` of them in the file, the rest in the log."""
    live = tmp_path / "live"
    peer = await Peer.open(live, device="d", role="office")
    for i in range(n):
        if i == checkpointed > 0:
            with closing(sqlite3.connect(live / STORE_FILE)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await peer.create("contacts", {"name": f"c{i}", "notes": f"note {i}"})
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in (STORE_FILE, f"{STORE_FILE}-wal", id_file(Path(STORE_FILE)).name):
        shutil.copy(live / name, copy / name)
    await peer.close()
    return copy, copy / f"{STORE_FILE}-wal"


async def _names_after_open(folder: Path) -> list[str]:
    async with await Peer.open(folder, device="d", role="office") as peer:
        with closing(sqlite3.connect(folder / STORE_FILE)) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return sorted((r["name"] for r in peer.list("contacts")), key=lambda n: int(n[1:]))


@pytest.mark.parametrize("cut", [0.3, 0.55, 0.8, 0.97])
async def test_a_torn_wal_opens_with_every_commit_before_the_tear(
    tmp_path: Path, cut: float
) -> None:
    folder, wal = await _crash_copy(tmp_path, 40)
    os.truncate(wal, int(wal.stat().st_size * cut) + 1001)  # mid-frame
    names = await _names_after_open(folder)
    assert names == [f"c{i}" for i in range(len(names))]  # a prefix: commits in order
    assert 0 < len(names) < 40


async def test_garbage_in_the_wal_drops_the_commits_after_it_and_opens(tmp_path: Path) -> None:
    folder, wal = await _crash_copy(tmp_path, 40)
    _overwrite(wal, wal.stat().st_size // 2, random.Random(3).randbytes(3000))
    names = await _names_after_open(folder)
    assert names == [f"c{i}" for i in range(len(names))]
    assert 0 < len(names) < 40


async def test_a_lost_wal_opens_as_of_the_last_checkpoint(tmp_path: Path) -> None:
    """Not detectable: the file is whole, only older. `roamsync repair --force`
    then re-syncs the device (a new store id: the peers send everything)."""
    folder, wal = await _crash_copy(tmp_path, 20, checkpointed=12)
    wal.unlink()
    assert await _names_after_open(folder) == [f"c{i}" for i in range(12)]


async def test_a_wal_lost_before_the_first_checkpoint_is_damage(tmp_path: Path) -> None:
    """The store's id was still in the log: the file left is not the store it was."""
    folder, wal = await _crash_copy(tmp_path, 5)
    wal.unlink()
    with pytest.raises(StoreDamagedError, match="not the store this directory had"):
        await Peer.open(folder, device="d", role="office")


# -- where the error shows ------------------------------------------------------------------


def test_damage_found_on_use_tells_the_daemon(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    big = bytes(range(256)) * 80  # spills into overflow pages
    store = SqliteStore(path)
    store.save([RecordRow("b", "contacts", big, b"{}")])
    store.close()
    data = bytearray(path.read_bytes())
    at = data.index(big[len(big) // 2 : len(big) // 2 + 64])
    data[at - at % 4096 : at - at % 4096 + 4] = (0x7FFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match="roamsync repair"):
        SqliteStore(path)  # the check at open finds it
    store = SqliteStore(path, check=False)
    told: list[StoreDamagedError] = []
    store.on_damage = told.append
    try:
        with pytest.raises(StoreDamagedError) as info:
            store.state("b")
        assert told == [info.value]
    finally:
        store.close()


def _as_owner_without_root_powers() -> list[str]:
    """Root reads any file; drop the capabilities that let it, to meet permissions."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def _cli(*args: str | Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *ROAMSYNC, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_names_repair_and_repair_brings_the_records_back(tmp_path: Path) -> None:
    folder = tmp_path / "hq"
    profile = ["--address", "A", "--phone", "+47 22 00 00 01", "--email", "e@acme.no"]
    profile += ["--org-number", "912 345 678"]
    init: list[str | Path]
    init = ["init", folder, "--device", "hq", "--role", "main", "--company", "Acme"]
    assert _cli(*init, "--port", "0", "--no-discovery", *profile).returncode == 0
    ids = [_cli("put", folder, "contacts", f"name=c{i}").stdout.strip() for i in range(3)]
    _overwrite(folder / STORE_FILE, 0, b"garbage header!!")

    commands: list[list[str | Path]]
    commands = [["serve", folder, "--no-discovery"], ["list", folder, "contacts"]]
    for command in commands:
        done = _cli(*command)
        assert done.returncode == exit_code(StoreDamagedError(folder, "x"))
        assert "StoreDamagedError" in done.stderr
        assert f"roamsync repair {folder}" in done.stderr

    done = _cli("repair", folder)
    assert done.returncode == 0, done.stderr
    assert "contacts: 3" in done.stdout
    assert "damaged-" in done.stdout
    listed = _cli("list", folder, "contacts", "--json").stdout
    assert all(i in listed for i in ids)
    again = _cli("repair", folder)
    assert again.returncode == exit_code(UsageError())
    assert "not damaged" in again.stderr


def test_an_unreadable_store_is_a_permission_error_not_damage(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    profile = ["--address", "A", "--phone", "+47 22 00 00 01", "--email", "e@acme.no"]
    profile += ["--org-number", "912 345 678"]
    init: list[str | Path]
    init = ["init", folder, "--device", "d", "--role", "main", "--company", "Acme"]
    assert _cli(*init, "--port", "0", *profile).returncode == 0
    (folder / STORE_FILE).chmod(0)
    done = _cli("list", folder, "contacts", prefix=_as_owner_without_root_powers())
    (folder / STORE_FILE).chmod(0o644)
    assert done.returncode == exit_code(StoreError())
    assert "permission denied" in done.stderr
    assert "StoreDamagedError" not in done.stderr
    assert "not damaged" in done.stderr
    assert _cli("list", folder, "contacts").returncode == 0
