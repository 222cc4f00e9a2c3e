"""The data directory's files: written whole or not at all, and locked by one process."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK = "lock"


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
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
        handle = open(self.path, "ab")  # noqa: SIM115 (held open for the lock's life)
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
