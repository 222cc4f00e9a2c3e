"""Records that arrive new: read, checked and made into store rows without the replica.

An initial sync brings every record of the company, each new to the device.
For such a record the whole work (check the Yjs update's structure, read it,
check its data, the permission matrix and the priority layer, build its
view) depends on nothing but the update: :func:`arrive` is a pure function of
the record id, the update and the peer it came from, and :class:`Preparer`
runs it for large batches in a worker process, beside the event loop, which
meanwhile stores the batch before and receives the next. The replica uses an
arrival only if the record is still new when it applies the batch
(``Peer.apply_remote``); it logs and records what :func:`arrive` refused.

On two cores this about halves an initial sync: the receiving process had
been the bottleneck while the sending one idled (BENCHMARKS.md).
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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, NamedTuple

import orjson

from roamsync.peer.priority import Resolved
from roamsync.peer.record import RecordContent, RecordSnapshot, encode_episode
from roamsync.peer.store import RecordRow
from roamsync.schema import MODULES, JsonValue, allowed, get_module
from roamsync.schema.permissions import may_write_record

log = logging.getLogger(__name__)

PROVISIONAL = "P-"
READY, UNCHANGED, MALFORMED, REJECTED = "ready", "unchanged", "malformed", "rejected"
PREPARE_AT = 100  # items in a batch from which a worker reads them (below, it costs more)


def is_provisional(number: object) -> bool:
    return isinstance(number, str) and number.startswith(PROVISIONAL)


class Ignored(NamedTuple):
    """A write the priority layer ignored because the matrix forbids it."""

    t: int
    device: str
    field: str
    role: str


Plain = tuple[Any, ...]  # an Arrival as plain tuples (Preparer)


class Arrival(NamedTuple):
    """What a new record's update makes: a row to store, or why not."""

    outcome: str  # READY, UNCHANGED, MALFORMED or REJECTED
    row: RecordRow | None = None
    latest: int = 0  # the time of its latest winning write (the clock observes it)
    module: str = ""
    reason: str = ""  # why it is malformed or rejected
    ignored: tuple[Ignored, ...] = ()


def arrive(record_id: str, update: bytes, origin: str | None) -> Arrival:
    """Read ``update`` as a record this replica has never had (``origin``: the peer it
    came from, which need not get it back)."""
    try:
        snapshot = RecordSnapshot(update)  # refuses updates that could crash yrs, unseen
        if not snapshot.changed:
            return Arrival(UNCHANGED)
        snapshot.check()  # a well-formed Yjs update can still carry malformed record data
    except ValueError as exc:
        return Arrival(MALFORMED, reason=str(exc))
    reason = violation(snapshot, {}, None)
    if reason is not None:
        return Arrival(REJECTED, module=str(snapshot.module), reason=reason)
    row, resolved = view_row(record_id, snapshot, update, origin)
    return Arrival(READY, row, resolved.latest, row.module, "", ignored(resolved))


def arrive_all(items: Sequence[tuple[str, bytes]], origin: str | None) -> list[Arrival]:
    """:func:`arrive` for each item."""
    return [arrive(record_id, update, origin) for record_id, update in items]


def arrive_all_plain(items: Sequence[tuple[str, bytes]], origin: str | None) -> list[Plain]:
    """:func:`arrive_all` in plain tuples (what a worker process runs and sends back):
    pickle takes a named tuple at several times the cost of a plain one."""
    return [
        (
            a.outcome,
            a.row and tuple(a.row),
            a.latest,
            a.module,
            a.reason,
            a.ignored and tuple(map(tuple, a.ignored)),
        )
        for a in arrive_all(items, origin)
    ]


def from_plain(plain: Plain) -> Arrival:
    outcome, row, latest, module, reason, ignored = plain
    return Arrival(
        outcome,
        row and RecordRow._make(row),
        latest,
        module,
        reason,
        ignored and tuple(Ignored._make(w) for w in ignored),
    )


def ignored(resolved: Resolved) -> tuple[Ignored, ...]:
    if not resolved.rejected:  # most records: no generator to run
        return ()
    return tuple(Ignored(w.t, w.device, w.field, w.role) for w in resolved.rejected)


def violation(
    rec: RecordContent, before: Mapping[int, int], identity: tuple[str | None, str] | None
) -> str | None:
    """Why a merged update must be ignored, or ``None``: the same answer on every replica."""
    module, creator = rec.module, rec.creator
    if module not in MODULES:
        return f"unknown module {module!r}"
    if identity is not None and identity != (module, creator):
        return "the update rewrites the record's module or creator"
    if not allowed(rec.creator_role, module, "create", own=True):
        return f"a {rec.creator_role} device may not create {module} records"
    for client, clock in rec.state_vector().items():
        if clock <= before.get(client, 0):
            continue
        author = rec.author(client)
        if author is None:
            return f"changes by an unknown Yjs client {client}"
        device, role = author
        if not may_write_record(role, module, own=device == creator):
            return f"a {role} device ({device}) may not change {module} records it did not create"
    return None


def view_row(
    record_id: str, rec: RecordContent, state: bytes, origin: str | None = None
) -> tuple[RecordRow, Resolved]:
    """The store row of a record: its state, and the view the priority layer resolves."""
    module = get_module(str(rec.module))
    resolved = rec.resolved()
    winning = resolved.values
    values: dict[str, JsonValue] = {name: winning.get(name) for name in module.fields}
    if module.notes:
        values.update(rec.notes())
    number = values.get("number") if module.numbered else None
    provisional = values.get("provisional_number")
    view = {
        "id": record_id,
        "module": module.name,
        "creator": rec.creator,
        "deleted": resolved.deleted,
        "fields": values,
        "rejected": [(w.device, w.field, w.t) for w in resolved.rejected]
        if resolved.rejected
        else [],
    }
    row = RecordRow(
        record_id,
        module.name,
        state,
        orjson.dumps(view),
        resolved.deleted,
        is_provisional(number) and not resolved.deleted,
        None if number is None else str(number),
        None if provisional is None else str(provisional),
        tuple((e.time, orjson.dumps(encode_episode(e))) for e in resolved.conflicts)
        if resolved.conflicts
        else (),
        origin,
    )
    return row, resolved


def default_workers() -> int:
    """``ROAMSYNC_WORKERS`` (0: none), else one worker where there is a second core to run
    it on, else none."""
    configured = os.environ.get("ROAMSYNC_WORKERS", "").strip()
    if configured:
        return max(int(configured), 0)
    return 1 if (os.cpu_count() or 1) > 1 else 0


class WorkerFailed(Exception):
    """The worker process is gone, or answered what was not asked."""


class Preparer:
    """Runs :func:`arrive_all_plain` for large batches in a worker process
    (``python -m roamsync.peer.worker``).

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

    def submit(
        self, items: Sequence[tuple[str, bytes]], origin: str | None
    ) -> asyncio.Future[list[Plain]] | None:
        """Start reading ``items`` in the worker; ``None`` if they are few or there is none."""
        if not self.enabled or self._broken or self._closed or len(items) < self.threshold:
            return None
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="roamsync-preparer")
        request = pickle.dumps((list(items), origin), protocol=pickle.HIGHEST_PROTOCOL)
        return asyncio.get_running_loop().run_in_executor(self._thread, self._ask, request)

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
                raise WorkerFailed("the peer is closing")
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "roamsync.peer.worker"],
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
            raise WorkerFailed(f"the worker is gone: {exc}") from exc
        if answer is None:
            raise WorkerFailed(f"the worker ended (exit status {proc.poll()})")
        plains: list[Plain] = pickle.loads(answer)  # from our own child process
        return plains

    async def result(self, future: asyncio.Future[list[Plain]] | None) -> list[Arrival] | None:
        """The arrivals a :meth:`submit` made, or ``None`` (read them here) if the worker
        failed: it is logged and no worker is used again."""
        if future is None:
            return None
        try:
            return [from_plain(plain) for plain in await future]
        except Exception as exc:  # WorkerFailed, or a bug in the worker: read them here
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
