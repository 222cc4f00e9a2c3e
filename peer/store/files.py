"""The data directory's files: private, written whole or not at all, locked by one process."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import IO

LOCK = "lock"
PRIVATE_DIR = 0o700  # the data directory and the folders in it
PRIVATE_FILE = 0o600  # every file in it: store, WAL, SHM, logs, config, keys


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open`: a file it creates is 0600 whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE)


def make_private(folder: Path) -> list[Path]:
    """Make ``folder`` (created 0700 if missing) and everything in it private: whatever
    the group or other users may do with a file or folder is taken away (0644 becomes
    0600, 0755 becomes 0700); the owner's own bits are left as they are. Returns the
    paths that others could use before.

    Symbolic links are left alone: what they point to is not the directory's own.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    widened: list[Path] = []
    for path in [folder, *folder.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
            continue
        widened.append(path)
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
    return widened


def write_atomically(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class DirectoryLock:
    """An exclusive lock on a data directory: one process at a time opens its store."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock if free; False if another process holds it."""
        # held open for the lock's life
        handle = open(self.path, "ab", opener=private_opener)  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
