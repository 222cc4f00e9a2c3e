"""Real `roamsync serve` daemons on loopback, linked through TCP proxies the test controls.

Used by the chaos test (``tests/chaosrun.py``) and the load test (``tests/loadrun.py``).

* :class:`Cluster` sets up a company of N devices (the first is main; all are
  enrolled with real invitations), runs each as a ``roamsync serve`` process
  with discovery off, and links every pair with one explicit ``--peer``: the
  later device dials the earlier one, so everybody dials main.
* With ``proxied=True`` every link goes through a :class:`Link`, a loopback
  TCP proxy in the test process: ``cut()`` drops its connections and refuses
  new ones (a partition), ``heal()`` lets them through again. The daemons only
  see connections fail, as they would on a real network.
* :func:`read_store` reads a stopped or running daemon's SQLite file read-only
  (WAL lets a reader in while the daemon writes); :func:`snapshot` is the
  part that must be identical on every replica once they converged.

Every wait is bounded; every process the cluster started is killed by
:meth:`Cluster.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from roamsync.peer.core.clock import SKEW_ENV
from roamsync.peer.org import registry
from roamsync.peer.org.config import DAEMON, load_config, save_config
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.peer.replica import Peer

from conftest import PROFILE
from daemons import ROAMSYNC

START_LIMIT = 45.0  # seconds for a daemon to print "serving" (2 busy cores, ~1 s when idle)
REQUEST_LIMIT = 30.0  # seconds for one API request or CLI command
HUNG = -1000  # Cluster.stop's code for a daemon that did not exit on SIGTERM


def roles_for(n: int) -> dict[str, str]:
    """hq (main), one travel laptop, the rest offices: ``{name: role}``."""
    if n < 2:
        raise ValueError("a cluster needs main and at least one other device")
    roles = {"hq": "main", "laptop-1": "travel"}
    roles.update({f"office-{i}": "office" for i in range(1, n - 1)})
    return roles


class Link:
    """A loopback TCP proxy from the dialing daemon ``a`` to daemon ``b``'s sync port."""

    def __init__(self, a: str, b: str) -> None:
        self.a, self.b = a, b
        self.target: int | None = None  # b's sync port while b runs
        self.cuts = 0  # partitions holding this link cut (they may overlap)
        self.port = 0
        self.accepted = self.refused = self.bytes = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def is_cut(self) -> bool:
        return self.cuts > 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Partition: drop every connection now and refuse new ones until healed."""
        self.cuts += 1
        for transport in list(self._transports):
            transport.abort()

    def heal(self, everything: bool = False) -> None:
        self.cuts = 0 if everything else max(0, self.cuts - 1)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            transport.abort()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._forward(reader, writer)
        finally:
            self._handlers.discard(task)
            writer.transport.abort()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut or self.target is None:
            self.refused += 1
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target), 5
            )
        except (OSError, TimeoutError):
            self.refused += 1
            return
        ends = (writer.transport, up_writer.transport)
        try:
            if self.is_cut:  # cut while we connected
                self.refused += 1
                return
            self.accepted += 1
            self._transports.update(ends)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for transport in ends:
                self._transports.discard(transport)
                transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction; at its end (EOF, error, cut) abort both ends of the pair."""
        try:
            while data := await reader.read(1 << 16):
                self.bytes += len(data)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


@dataclass
class Daemon:
    name: str
    role: str
    folder: Path
    skew: float | None = None  # seconds added to this device's wall clock
    device: str = ""
    proc: asyncio.subprocess.Process | None = None
    sync_port: int = 0
    api: str = ""
    token: str = ""
    starts: int = 0
    # Held for every write, CLI call and restart: a device's writes happen one at a
    # time in a known order, and a CLI command that opens a stopped device's store
    # directly never races its restart.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    ready: bool = False  # started and serving (a starting daemon is not killed)

    @property
    def up(self) -> bool:
        return self.proc is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != SKEW_ENV}
        if self.skew is not None:
            env[SKEW_ENV] = str(self.skew)
        return env


class Unreachable(Exception):
    """The request may or may not have reached the daemon (``sent``), and no answer came."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Cluster:
    """N enrolled devices as ``roamsync serve`` processes; see the module docstring."""

    def __init__(
        self,
        root: Path,
        roles: dict[str, str],
        *,
        anti_entropy: float,
        proxied: bool = True,
        skew: dict[str, float] | None = None,
        forger: bool = False,
    ) -> None:
        names = list(roles)
        if roles[names[0]] != "main":
            raise ValueError("the first device is main")
        self.root = root
        self.anti_entropy = anti_entropy
        self.proxied = proxied
        self.company = f"Chaos {uuid.uuid4().hex[:8]}"
        self.daemons = {
            name: Daemon(name, role, root / name, (skew or {}).get(name))
            for name, role in roles.items()
        }
        self.names = names
        # Pair (later, earlier): the later device dials the earlier one.
        self.links = {
            (a, b): Link(a, b) for i, a in enumerate(names) for b in names[:i] if self.proxied
        }
        self.http: aiohttp.ClientSession | None = None
        # An enrolled travel device no daemon runs: its key plays a stolen laptop's.
        self.forger = Daemon("mallory", "travel", root / "mallory") if forger else None

    @property
    def main(self) -> Daemon:
        return self.daemons[self.names[0]]

    def roles_by_device(self) -> dict[str, str]:
        return {d.device: d.role for d in self.daemons.values()}

    # -- set-up and tear-down ------------------------------------------------------

    async def setup(self) -> None:
        """Create, enrol and start every device (main first, so every dial finds it up)."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_LIMIT))
        main = self.main
        await init_directory(
            main.folder,
            name=main.name,
            role="main",
            company_name=self.company,
            port=0,
            discovery=False,
            profile=PROFILE,
        )
        others = [d for d in self.daemons.values() if d is not main]
        codes = await self._invite(others + ([self.forger] if self.forger else []))
        for link in self.links.values():
            await link.start()
        await self.start(main.name)
        devices = {**self.daemons, **({"mallory": self.forger} if self.forger else {})}
        for name, code in codes.items():
            await self._join(devices[name], code)
        for name in self.names[1:]:
            await self.start(name)
        for d in [*self.daemons.values(), *([self.forger] if self.forger else [])]:
            d.device = load_config(d.folder).device

    async def _invite(self, others: list[Daemon]) -> dict[str, str]:
        config = load_config(self.main.folder)
        async with await Peer.open(
            self.main.folder, device=config.device, role="main", label=config.name
        ) as peer:
            return {d.name: registry.invite(peer, config.fingerprint, d.role, 3600) for d in others}

    async def _join(self, d: Daemon, code: str) -> None:
        await init_directory(
            d.folder, name=d.name, role=d.role, company_name=self.company, port=0, discovery=False
        )
        await join_company(d.folder, code, f"127.0.0.1:{self.main.sync_port}")
        config = load_config(d.folder)
        config.peers = []  # only the links given to serve
        save_config(d.folder, config)

    async def close(self) -> None:
        for d in self.daemons.values():
            if d.up:
                await self.kill(d.name)
        for link in self.links.values():
            await link.close()
        if self.http is not None:
            await self.http.close()

    # -- processes -------------------------------------------------------------------

    def dial_addresses(self, name: str) -> list[str]:
        earlier = self.names[: self.names.index(name)]
        if self.proxied:
            return [f"127.0.0.1:{self.links[(name, b)].port}" for b in earlier]
        return [f"127.0.0.1:{self.daemons[b].sync_port}" for b in earlier]

    async def start(self, name: str) -> None:
        """Start ``serve`` and wait (bounded) for its "serving" line."""
        d = self.daemons[name]
        assert not d.up, f"{name} runs already"
        d.starts += 1
        out = self.root / f"{name}.{d.starts}.out"
        err = self.root / f"{name}.{d.starts}.err"
        args = [*ROAMSYNC, "serve", str(d.folder), "--no-discovery"]
        args += ["--anti-entropy", str(self.anti_entropy), "--no-progress"]
        for address in self.dial_addresses(name):
            args += ["--peer", address]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:  # noqa: ASYNC230
            d.proc = await asyncio.create_subprocess_exec(
                *args, stdout=stdout, stderr=stderr, env=d.env()
            )
        deadline = time.monotonic() + START_LIMIT
        while "serving" not in (text := out.read_text()):
            if d.proc.returncode is not None or time.monotonic() > deadline:
                await self.kill(name)
                raise AssertionError(f"{name} did not start: {err.read_text()}")
            await asyncio.sleep(0.05)
        d.sync_port = int(text.split("serving", 1)[1].splitlines()[0].rsplit(":", 1)[1])
        info = orjson.loads((d.folder / DAEMON).read_bytes())
        d.api, d.token = f"http://127.0.0.1:{info['port']}/api", info["token"]
        d.ready = True
        for link in self.links.values():
            if link.b == name:
                link.target = d.sync_port

    async def _reap(self, d: Daemon, sig: int, limit: float) -> int:
        proc = d.proc
        assert proc is not None
        d.ready = False
        if proc.returncode is None:
            proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:  # hung: the caller reports HUNG
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)
            code = HUNG
        d.proc = None  # reaped at once: a zombie's pid would look alive to the CLI
        for link in self.links.values():
            if link.b == d.name:
                link.target = None
        return code

    async def kill(self, name: str) -> None:
        """SIGKILL, reaped at once."""
        await self._reap(self.daemons[name], signal.SIGKILL, 10)

    async def stop(self, name: str) -> int:
        """SIGTERM; the exit code (0 for a clean shutdown), or HUNG if the daemon still ran
        after 30 s (it is then killed)."""
        return await self._reap(self.daemons[name], signal.SIGTERM, 30)

    def rss_kib(self, name: str) -> int:
        """The daemon's resident memory (VmRSS) in KiB."""
        status = Path(f"/proc/{self.daemons[name].pid}/status").read_text()
        line = next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
        return int(line.split()[1])

    # -- partitions ------------------------------------------------------------------------

    def links_between(self, group: set[str]) -> list[Link]:
        """The links with exactly one end in ``group``."""
        return [k for k in self.links.values() if (k.a in group) != (k.b in group)]

    def heal_all(self) -> None:
        for link in self.links.values():
            link.heal(everything=True)

    # -- talking to the daemons ------------------------------------------------------------

    async def request(self, name: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API call: (HTTP status, JSON body). :class:`Unreachable` without an answer."""
        d = self.daemons[name]
        assert self.http is not None
        if not d.api:
            raise Unreachable(f"{name} never ran", sent=False)
        data = None if body is None else orjson.dumps(body)
        headers = {"Authorization": f"Bearer {d.token}"}
        was_up = d.ready
        try:
            async with self.http.request(method, d.api + path, data=data, headers=headers) as r:
                return r.status, orjson.loads(await r.read())
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached a daemon that was down. One that was up may have got the
            # request: aiohttp sends an idempotent request (DELETE) again after a
            # disconnect, and it is the second try that could not connect.
            raise Unreachable(str(exc), sent=was_up) from exc
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}", sent=True) from exc

    async def cli(self, name: str, *args: str) -> tuple[int, str, str]:
        """Run ``roamsync ARGS`` on this device's folder: (exit code, stdout, stderr).
        With the daemon down, the command opens the store itself."""
        d = self.daemons[name]
        proc = await asyncio.create_subprocess_exec(
            *ROAMSYNC,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=d.env(),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), REQUEST_LIMIT)
        except TimeoutError:
            raise Unreachable(f"roamsync {args} timed out", sent=True) from None
        finally:
            if proc.returncode is None:  # timed out, or the test was cancelled
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode, out.decode().strip(), err.decode().strip()


# -- reading the stores -------------------------------------------------------------------


@dataclass
class StoreContents:
    records: dict[str, dict[str, Any]]  # id -> row (module, deleted, number, state, view)
    conflicts: list[tuple[str, bytes]]  # (record, encoded episode), sorted
    rejections: list[tuple[Any, ...]]


def read_store(folder: Path, states: bool = True) -> StoreContents:
    """A store's records, conflict log and rejections; ``states=False`` skips the CRDT
    states (empty bytes instead), which polling for convergence does not need."""
    path = folder / "roamsync.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        sql = "SELECT id, module, deleted, needs_number, number, provisional, "
        sql += ("state" if states else "x''") + ", view FROM records"
        records = {
            row[0]: {
                "module": row[1],
                "deleted": bool(row[2]),
                "needs_number": bool(row[3]),
                "number": row[4],
                "provisional": row[5],
                "state": bytes(row[6]),
                "view": bytes(row[7]),
            }
            for row in db.execute(sql)
        }
        conflicts = sorted(
            (r, bytes(e)) for r, e in db.execute("SELECT record, episode FROM conflicts")
        )
        rejections = list(db.execute("SELECT * FROM rejections"))
    return StoreContents(records, conflicts, rejections)


def read_state(folder: Path, record_id: str) -> bytes | None:
    """One record's CRDT state in a running daemon's store (read-only)."""
    path = folder / "roamsync.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        row = db.execute("SELECT state FROM records WHERE id = ?", (record_id,)).fetchone()
    return None if row is None else bytes(row[0])


def snapshot(contents: StoreContents) -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    """What every replica must hold identically: each record's view, and the conflict log."""
    return {i: r["view"] for i, r in contents.records.items()}, contents.conflicts


async def wait_converged(cluster: Cluster, limit: float, poll: float = 0.1) -> float:
    """Seconds until every store holds the same snapshot and main (the first store) has
    numbered every provisional record; AssertionError after ``limit`` seconds."""
    started = time.monotonic()
    while True:
        stores = [read_store(d.folder, states=False) for d in cluster.daemons.values()]
        first = snapshot(stores[0])
        numbered = not any(r["needs_number"] for r in stores[0].records.values())
        if numbered and all(snapshot(s) == first for s in stores[1:]):
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            counts = {
                d.name: len(s.records)
                for d, s in zip(cluster.daemons.values(), stores, strict=True)
            }
            raise AssertionError(f"no convergence within {limit} s; records per store: {counts}")
        await asyncio.sleep(poll)
