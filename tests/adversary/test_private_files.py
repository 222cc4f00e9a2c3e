"""A local account must not read the company's data: the data directory is 0700,
every file in it 0600, made so at ``init`` and checked (and tightened) at open."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamsync.peer import Peer
from roamsync.peer.cli.serve import log_handler
from roamsync.peer.store.files import make_private

from daemons import cli


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give users: files 0644, directories 0755, unless we say otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(folder: Path, *expected: str) -> None:
    found = modes(folder)
    wide = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (folder / name).is_dir() else 0o600)
    }
    assert not wide, f"readable by others: {wide}"
    assert set(expected) <= set(found), found


def test_init_makes_everything_private(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    cli("init", hq, "--device", "hq", "--role", "main", "--company", "Acme", "--port", "0")
    cli("put", hq, "contacts", "name=Acme AS")
    assert_private(hq, "roamsync.sqlite3", "roamsync.sqlite3.id", "config.json", "tls/key.pem")
    office = tmp_path / "office"
    cli("init", office, "--device", "office", "--role", "office", "--company", "Acme")
    assert_private(office, "config.json", "tls/key.pem", "tls/cert.pem")


async def test_open_tightens_a_directory_made_by_an_older_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "old"
    async with await Peer.open(folder, device="hq", role="main") as peer:
        await peer.create("contacts", {"name": "Acme AS"})
        (folder / "roamsync.log").write_text("an old version's log")
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="roamsync"):
        async with await Peer.open(folder, device="hq", role="main") as peer:
            await peer.create("contacts", {"name": "Beta AS"})
            assert len(peer.list("contacts")) == 2
            assert_private(
                folder, "roamsync.sqlite3", "roamsync.sqlite3-wal", "roamsync.sqlite3-shm"
            )
    assert_private(folder, "roamsync.sqlite3", "roamsync.log")
    assert "readable by other users" in caplog.text


def test_the_log_and_its_rotations_are_private(tmp_path: Path) -> None:
    make_private(tmp_path)
    handler = log_handler(tmp_path, max_bytes=200)
    try:
        record = logging.LogRecord("roamsync", logging.INFO, __file__, 1, "x" * 150, None, None)
        for _ in range(5):  # rotates: roamsync.log.1, .2, .3
            handler.emit(record)
    finally:
        handler.close()
    assert (tmp_path / "roamsync.log.2").exists()
    found = modes(tmp_path)
    assert found.pop(".") == 0o700
    assert set(found.values()) == {0o600}, found
