"""Reading large batches of records that arrive new in a worker process, beside the replica.

:class:`Preparer` sends batches to ``python -m roamsync.peer.replica.worker``
(:mod:`.worker`) and hands back what it read; the replica meanwhile stores the
batch before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from roamsync.peer.replica.arrival import Arrival, Plain, from_plain
from roamsync.schema import WorkerError

log = logging.getLogger(__name__)

PREPARE_AT = 100  # items in a batch from which a worker reads them (below, it costs more)


def default_workers() -> int:
    """``ROAMSYNC_WORKERS`` (0: none), else one worker where there is a second core to run
    it on, else none."""
    configured = os.environ.get("ROAMSYNC_WORKERS", "").strip()
    if configured:
        return max(int(configured), 0)
    return 1 if (os.cpu_count() or 1) > 1 else 0


class Preparer:
    """Runs :func:`arrive_all_plain` for large batches in a worker process
    (``python -m roamsync.peer.replica.worker``).

    The worker starts with the first large batch (a peer that only ever sees small
    ones never starts it). It is a plain subprocess, not ``multiprocessing``,
    whose ``spawn`` would run the parent's main script again in the worker unless
    it has an ``if __name__ == "__main__"`` guard. One thread talks to it, a
    batch at a time, in the order they were submitted. If the worker fails,
    batches are read in this process from then on.
    """

    def __init__(self, workers: int | None = None, threshold: int = PREPARE_AT) -> None:
        self.enabled = (default_workers() if workers is None else workers) > 0
        self.threshold = threshold
        self._thread: ThreadPoolExecutor | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._broken = False
        # Given the digests of what the worker verified (main seals them; seals.py).
        self.on_verified: Callable[[bytes], None] | None = None

    def submit(
        self, items: Sequence[tuple[str, bytes]], origin: str | None, keys: object = None
    ) -> asyncio.Future[list[Plain]] | None:
        """Start reading ``items`` in the worker (checking signed writes with ``keys``, a
        :class:`~roamsync.peer.record.signing.KeySet`); ``None`` if they are few or there
        is no worker."""
        if not self.takes(len(items)):
            return None
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="roamsync-preparer")
        request = pickle.dumps((list(items), origin, keys), protocol=pickle.HIGHEST_PROTOCOL)
        return asyncio.get_running_loop().run_in_executor(self._thread, self._ask, request)

    def takes(self, count: int) -> bool:
        """Whether :meth:`submit` would send a batch of ``count`` items to the worker."""
        return self.enabled and not self._broken and not self._closed and count >= self.threshold

    def warm(self, count: int) -> None:
        """``count`` records are on their way: start the worker now if they are many, so
        its start-up (about 0.2 s of imports) overlaps the first batch's transfer."""
        if self.enabled and not self._broken and not self._closed and count >= self.threshold:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="roamsync-preparer")
            self._thread.submit(self._start)

    def _start(self) -> subprocess.Popen[bytes]:
        """In the thread: the worker, started if need be."""
        with self._lock:  # not started after close()
            if self._closed:
                raise WorkerError("the peer is closing")
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "roamsync.peer.replica.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    start_new_session=True,  # a Ctrl-C at a terminal is for the daemon
                )
            return self._proc

    def _ask(self, request: bytes) -> list[Plain]:
        """In the thread: one request to the worker (started if need be), its answer."""
        proc = self._start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(len(request).to_bytes(4, "big") + request)
            proc.stdin.flush()
            answer = read_frame(proc.stdout)
        except (OSError, ValueError) as exc:  # a broken pipe; a pipe closed by close()
            raise WorkerError(f"the worker is gone: {exc}") from exc
        if answer is None:
            raise WorkerError(f"the worker ended (exit status {proc.poll()})")
        plains: list[Plain]
        plains, verified = pickle.loads(answer)  # from our own child process
        if verified and self.on_verified is not None:
            self.on_verified(verified)
        return plains

    async def result(self, future: asyncio.Future[list[Plain]] | None) -> list[Arrival] | None:
        """The arrivals a :meth:`submit` made, or ``None`` (read them here) if the worker
        failed: it is logged and no worker is used again."""
        if future is None:
            return None
        try:
            return [from_plain(plain) for plain in await future]
        except Exception as exc:  # WorkerError, or a bug in the worker: read them here
            if not self._broken:
                log.warning("the worker reading new records failed (%s): reading here", exc)
            self._broken = True
            return None

    def close(self) -> None:
        """Stop the worker: at the end of its input it exits."""
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """A 4-byte length and that many bytes; ``None`` at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    return body if len(body) == size else None
