"""kill -9 trials: writers are killed at a random point of a write burst; the store
must open afterwards and hold every acknowledged write.

Two kinds of trial, both on one store that lives through all their crashes:

* ``peer``: a subprocess writes through ``Peer`` directly, printing each write
  before it starts (``OP``) and after it returned (``ACK``); it is killed after a
  random number of acknowledgements or after a random delay (which may fall
  before or while it opens the store).
* ``daemon``: a real ``roamsync serve`` is killed while three clients write
  through its local HTTP API and one through ``roamsync put``; a write is
  acknowledged when the API (or the command) answered success.

The writes are creates, field updates and clears, note edits, deletes and
orders. After each kill the store is opened the way the next run opens it
(``Peer.open`` / ``Node.open``, which runs ``quick_check``), then checked with
``PRAGMA integrity_check`` and against a model of the acknowledged writes:
every one is there unless a later acknowledged write replaced it (the write in
flight at the kill may or may not have landed, whole), no record disappears,
and no order number was handed out twice. Seeds: ``ROAMSYNC_KILL_SEED``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamsync.peer import Peer
from roamsync.peer.api.client import ApiClient, daemon_info
from roamsync.peer.daemon.node import Node
from roamsync.peer.store import STORE_FILE
from roamsync.schema import RoamsyncError

from daemons import ROAMSYNC

SEED = int(os.environ.get("ROAMSYNC_KILL_SEED", "20261202"))

FIELDS = ("name", "phone", "email", "notes")
WORDS = ("alpha", "beta", "gamma", "delta", "kilo", "lima", "oscar", "zulu")
WRITER = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import killtrials; "
WRITER += "killtrials.writer_main(sys.argv[1], sys.argv[2])"
API_CLIENTS = 3  # plus one `roamsync put` client
Op = dict[str, Any]
Contacts = dict[str, dict[str, Any]]


# -- the writes --------------------------------------------------------------------------


class Burst:
    """Chooses the next write over the contacts it owns (id -> note text)."""

    def __init__(self, rnd: random.Random, owned: dict[str, str], tag: str, cli: bool = False):
        self.rnd, self.owned, self.tag, self.cli = rnd, owned, tag, cli
        self.deleted: list[str] = []
        self.n = 0

    def next(self, with_id: bool) -> Op:
        self.n += 1
        roll = self.rnd.random()
        ids = sorted(self.owned)
        if not ids or roll < 0.22:
            rid = f"{self.tag}x{self.n}" if with_id else None
            fields = {"name": f"{self.tag}-{self.n}", "phone": self._maybe(), "email": None}
            return {"kind": "create", "id": rid, "fields": {**fields, "notes": self._words(3)}}
        rid = self.rnd.choice(ids)
        if roll < 0.5:
            fields = {f: self._maybe() for f in self.rnd.sample(("name", "phone", "email"), 2)}
            fields["name"] = fields.get("name") or f"{self.tag}-{self.n}"  # required
            return {"kind": "update", "id": rid, "fields": fields}
        if roll < 0.8 or self.cli:
            return {"kind": "update", "id": rid, "fields": {"notes": self._edit(rid)}}
        if roll < 0.9:
            return {"kind": "order", "id": None, "fields": {"contact": rid, "total": "12.50"}}
        return {"kind": "delete", "id": rid}

    def acked(self, op: Op) -> None:
        if op["kind"] == "create":
            self.owned[op["id"]] = op["fields"]["notes"]
        elif op["kind"] == "delete":
            del self.owned[op["id"]]
        elif "notes" in op["fields"] and op["kind"] == "update":
            self.owned[op["id"]] = op["fields"]["notes"]

    def _maybe(self) -> str | None:
        return None if self.rnd.random() < 0.2 else f"{self.rnd.randrange(10**8):08d}"

    def _words(self, n: int) -> str:
        return " ".join(self.rnd.choice(WORDS) for _ in range(n))

    def _edit(self, rid: str) -> str:
        """A note edit: insert words, cut a piece, or both; never longer than 600."""
        text = self.owned[rid]
        at = self.rnd.randrange(len(text) + 1)
        if self.rnd.random() < 0.6 or len(text) < 20:
            text = f"{text[:at]} {self._words(2)} {text[at:]}"
        else:
            text = text[:at] + text[at + self.rnd.randrange(1, 15) :]
        return text.strip()[-600:] or "empty"


def writer_main(path: str, seed: str) -> None:
    """The ``peer`` trial's subprocess: write until killed."""
    asyncio.run(_write_forever(Path(path), random.Random(seed), seed))


async def _write_forever(path: Path, rnd: random.Random, tag: str) -> None:
    peer = await Peer.open(path, device="office-1", role="office")
    owned = {r["id"]: r["notes"] or "" for r in peer.list("contacts")}
    burst = Burst(rnd, owned, "w" + tag.replace("-", "x"))
    print("READY", flush=True)
    for _ in range(100_000):
        op = burst.next(with_id=True)
        print("OP", json.dumps(op), flush=True)
        if op["kind"] == "create":
            await peer.create("contacts", op["fields"], record_id=op["id"])
        elif op["kind"] == "update":
            await peer.update("contacts", op["id"], op["fields"])
        elif op["kind"] == "delete":
            await peer.delete("contacts", op["id"])
        else:
            op["id"] = await peer.create("orders", op["fields"])
        burst.acked(op)
        print("ACK", json.dumps(op), flush=True)


# -- what a store holds, and the check ----------------------------------------------------


@dataclass
class Snapshot:
    contacts: Contacts = field(default_factory=dict)  # id -> deleted flag and FIELDS
    orders: dict[str, str] = field(default_factory=dict)  # id -> number
    rows: int = 0


def read_store(folder: Path) -> Snapshot:
    """Read a store that was just opened and closed by roamsync (so its log is empty)."""
    uri = f"file:{folder / STORE_FILE}?mode=ro"
    # closing(): `with connect()` alone leaves the connection open, and a connection this
    # process keeps while another process deletes the -shm makes its next one read stale
    # shared memory ("database disk image is malformed" on a sound file).
    with closing(sqlite3.connect(uri, uri=True)) as db:
        check = db.execute("PRAGMA integrity_check").fetchall()
        assert check == [("ok",)], f"integrity_check: {check}"
        rows = db.execute("SELECT module, view FROM records").fetchall()
    snap = Snapshot(rows=len(rows))
    for module, raw in rows:
        view = json.loads(raw)
        if module == "contacts":
            fields = view["fields"]
            snap.contacts[view["id"]] = {"deleted": view["deleted"]} | {
                f: fields[f] for f in FIELDS
            }
        elif module == "orders":
            snap.orders[view["id"]] = str(view["fields"]["number"])
    return snap


def apply(contacts: Contacts, op: Op) -> None:
    if op["kind"] == "create":
        contacts[op["id"]] = {"deleted": False} | {f: op["fields"].get(f) for f in FIELDS}
    elif op["kind"] == "update":
        contacts[op["id"]] = contacts[op["id"]] | op["fields"]
    elif op["kind"] == "delete":
        contacts[op["id"]] = contacts[op["id"]] | {"deleted": True}


def verify(before: Snapshot, acked: list[Op], inflight: list[Op], after: Snapshot) -> list[str]:
    """What is wrong with ``after``: acknowledged writes lost, records vanished, numbers twice."""
    expected = dict(before.contacts)
    for op in acked:
        apply(expected, op)
    landed: Contacts = {}  # what a record is if the write in flight landed
    for op in inflight:
        if op["kind"] in ("create", "update", "delete"):
            trial = {op["id"]: expected.get(op["id"], {})} if op["id"] else {}
            apply(trial, {**op, "id": op["id"] or f"new:{op['fields']['name']}"})
            landed.update(trial)
    problems = []
    for rid in expected.keys() | after.contacts.keys():
        got, want = after.contacts.get(rid), expected.get(rid)
        if got == want or (rid in landed and got == landed[rid]):
            continue
        if want is None and got is not None and got == landed.get(f"new:{got['name']}"):
            continue  # a create in flight that landed (the daemon picked its id)
        problems.append(f"contact {rid}: acknowledged {want}, stored {got}")
    acked_orders = {op["id"] for op in acked if op["kind"] == "order"}
    problems += [f"acknowledged order {o} is gone" for o in acked_orders - after.orders.keys()]
    numbers = list(after.orders.values())
    if len(set(numbers)) != len(numbers):
        problems.append(f"an order number was handed out twice: {sorted(numbers)}")
    if after.rows < before.rows or not before.orders.keys() <= after.orders.keys():
        problems.append(f"records disappeared: {before.rows} before, {after.rows} after")
    return problems


@dataclass
class Figures:
    kind: str
    seed: int
    trials: int = 0
    acked: int = 0  # acknowledged writes checked
    lost: int = 0
    failed_opens: int = 0
    kills: dict[str, int] = field(default_factory=dict)  # kill point kind -> trials
    records: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"kill -9 trials ({self.kind}): {self.trials} trials, seed {self.seed}, "
            f"{self.acked} acknowledged writes checked, {self.lost} lost, "
            f"{self.failed_opens} failed opens, kill points {self.kills}, "
            f"{self.records} records at the end, {self.seconds:.1f} s"
        )


def check_figures(figures: Figures) -> None:
    """Print a run's figures (and append them to ``$ROAMSYNC_KILL_REPORT``), then check them."""
    print(figures.line())
    if path := os.environ.get("ROAMSYNC_KILL_REPORT"):
        with open(path, "a") as out:
            out.write(json.dumps(dataclasses.asdict(figures)) + "\n")
    assert figures.lost == 0, f"seed {figures.seed}"
    assert figures.failed_opens == 0, f"seed {figures.seed}"
    assert figures.acked >= 10 or figures.trials < 2, "no trial got a write acknowledged"


def _kill_point(
    rnd: random.Random, trial: int, most_acks: int, delays: tuple[float, float]
) -> tuple[str, Any]:
    """After a number of acknowledgements or after a delay; the first trial always gets
    some writes acknowledged, so a run is never checked on nothing."""
    if trial == 0:
        return "acks", rnd.randint(10, most_acks)
    if rnd.random() < 0.5:
        return "acks", rnd.randint(0, most_acks)
    return "delay", round(rnd.uniform(*delays), 3)


def _check(figures: Figures, trial: str, problems: list[str], acked: int) -> None:
    figures.trials += 1
    figures.acked += acked
    figures.lost += len(problems)
    assert not problems, f"{trial} (ROAMSYNC_KILL_SEED={figures.seed}): " + "; ".join(problems[:5])


# -- peer trials ---------------------------------------------------------------------------


def run_peer_trials(folder: Path, trials: int, seed: int) -> Figures:
    figures = Figures("peer", seed)
    started = time.monotonic()
    before = Snapshot()
    for trial in range(trials):
        rnd = random.Random(f"{seed}-peer-{trial}")
        point = _kill_point(rnd, trial, 150, (0.0, 2.0))
        figures.kills[point[0]] = figures.kills.get(point[0], 0) + 1
        acked, inflight = _run_writer(folder, f"{seed}-{trial}", point)
        after = _open_peer_store(folder, figures)
        _check(
            figures,
            f"peer trial {trial} {point}",
            verify(before, acked, inflight, after),
            len(acked),
        )
        before = after
    figures.records = len(before.contacts) + len(before.orders)
    figures.seconds = time.monotonic() - started
    return figures


def _run_writer(folder: Path, seed: str, point: tuple[str, Any]) -> tuple[list[Op], list[Op]]:
    """Run the writer until the kill point, SIGKILL it; (acknowledged, in flight)."""
    lines: list[str] = []
    enough = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), seed], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            acks = 0
            for line in stdout:
                lines.append(line)
                acks += line.startswith("ACK")
                if point[0] == "acks" and acks >= point[1] and lines[0].startswith("READY"):
                    enough.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if point[0] == "acks":
            assert enough.wait(60), f"the writer stopped early: {lines[-3:]}"
        else:
            time.sleep(point[1])  # the kill point itself: a random moment
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the writer died by itself: {lines[-3:]}"
    complete = [line for line in lines if line.endswith("\n")]  # a torn last line never started
    acked = [json.loads(line[4:]) for line in complete if line.startswith("ACK ")]
    started = [json.loads(line[3:]) for line in complete if line.startswith("OP ")]
    return acked, started[len(acked) :]


def _open_peer_store(folder: Path, figures: Figures) -> Snapshot:
    async def reopen() -> None:
        peer = await Peer.open(folder, device="office-1", role="office")
        await peer.close()

    try:
        asyncio.run(reopen())
    except RoamsyncError:
        figures.failed_opens += 1
        raise
    return read_store(folder)


# -- daemon trials -------------------------------------------------------------------------


async def run_daemon_trials(root: Path, trials: int, seed: int) -> Figures:
    figures = Figures("daemon", seed)
    started = time.monotonic()
    folder = root / "hq"
    profile = ["--address", "A", "--phone", "+47 22 00 00 01", "--email", "e@acme.no"]
    profile += ["--org-number", "912 345 678"]
    init: list[str | Path]
    init = ["init", folder, "--device", "hq", "--role", "main", "--company", "Acme"]
    code, _, err = await _cli(*init, "--port", "0", "--no-discovery", *profile)
    assert code == 0, err
    before = await _open_node_store(folder, figures)
    for trial in range(trials):
        rnd = random.Random(f"{seed}-daemon-{trial}")
        point = _kill_point(rnd, trial, 80, (0.2, 2.5))
        figures.kills[point[0]] = figures.kills.get(point[0], 0) + 1
        acked, inflight = await _daemon_trial(folder, before, rnd, f"d{trial}", point)
        after = await _open_node_store(folder, figures)
        problems = verify(before, acked, inflight, after)
        _check(figures, f"daemon trial {trial} {point}", problems, len(acked))
        before = after
    figures.records = len(before.contacts) + len(before.orders)
    figures.seconds = time.monotonic() - started
    return figures


async def _open_node_store(folder: Path, figures: Figures) -> Snapshot:
    try:
        node = await Node.open(folder)
    except RoamsyncError:
        figures.failed_opens += 1
        raise
    await node.stop()
    return read_store(folder)


async def _cli(*args: str | Path) -> tuple[int, str, str]:
    """Run roamsync; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *ROAMSYNC, *map(str, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Client:
    burst: Burst
    acked: list[Op] = field(default_factory=list)
    inflight: list[Op] = field(default_factory=list)


async def _daemon_trial(
    folder: Path, before: Snapshot, rnd: random.Random, tag: str, point: tuple[str, Any]
) -> tuple[list[Op], list[Op]]:
    daemon = await asyncio.create_subprocess_exec(
        *ROAMSYNC, "serve", str(folder), "--no-discovery", stdout=subprocess.PIPE
    )
    try:
        assert daemon.stdout is not None
        line = await asyncio.wait_for(daemon.stdout.readline(), 30)
        assert b"serving" in line, line
        info = daemon_info(folder)
        assert info is not None
        live = sorted(rid for rid, c in before.contacts.items() if not c["deleted"])
        clients = [
            Client(Burst(rnd, _notes(before, live[i :: API_CLIENTS + 1]), f"{tag}c{i}"))
            for i in range(API_CLIENTS + 1)
        ]
        clients[-1].burst.cli = True
        stop, enough = asyncio.Event(), asyncio.Event()
        acks = _Counter(point[1] if point[0] == "acks" else -1, enough)
        tasks = [
            asyncio.create_task(_api_writes(ApiClient(info), c, stop, acks)) for c in clients[:-1]
        ]
        tasks.append(asyncio.create_task(_cli_writes(folder, clients[-1], stop, acks)))
        if point[0] == "acks":
            await asyncio.wait_for(enough.wait(), 60)
        else:
            await asyncio.sleep(point[1])  # the kill point itself: a random moment
    finally:
        daemon.send_signal(signal.SIGKILL)
        await asyncio.wait_for(daemon.wait(), 30)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 90)
    return [op for c in clients for op in c.acked], [op for c in clients for op in c.inflight]


def _notes(snap: Snapshot, ids: list[str]) -> dict[str, str]:
    return {rid: snap.contacts[rid]["notes"] or "" for rid in ids}


@dataclass
class _Counter:
    target: int
    reached: asyncio.Event
    n: int = 0

    def add(self) -> None:
        self.n += 1
        if self.n >= self.target >= 0:
            self.reached.set()


def _request(op: Op) -> tuple[str, str, Any]:
    if op["kind"] == "create":
        return "POST", "/records/contacts", op["fields"]
    if op["kind"] == "order":
        return "POST", "/records/orders", op["fields"]
    if op["kind"] == "update":
        return "PATCH", f"/records/contacts/{op['id']}", op["fields"]
    return "DELETE", f"/records/contacts/{op['id']}", None


async def _api_writes(api: ApiClient, client: Client, stop: asyncio.Event, acks: _Counter) -> None:
    while not stop.is_set():
        op = client.burst.next(with_id=False)
        try:
            result = await api.call(*_request(op))
        except RoamsyncError as exc:
            if "did not answer" not in str(exc):
                raise AssertionError(f"the API refused {op}: {exc}") from exc
            client.inflight.append(op)  # the daemon died: it may or may not have landed
            return
        if op["id"] is None:
            op["id"] = result["id"]
        client.burst.acked(op)
        client.acked.append(op)
        acks.add()


async def _cli_writes(folder: Path, client: Client, stop: asyncio.Event, acks: _Counter) -> None:
    """`roamsync put`: through the daemon while it runs (or the store, once it is dead)."""
    while not stop.is_set():
        op = client.burst.next(with_id=False)
        if op["kind"] not in ("create", "update"):
            continue
        pairs = [f"{k}={'' if v is None else v}" for k, v in op["fields"].items()]
        extra = ["--id", op["id"]] if op["id"] else []
        code, out, err = await _cli("put", folder, "contacts", *pairs, *extra)
        if code != 0:
            assert "did not answer" in err or "in use" in err, err
            client.inflight.append(op)
            return
        op["id"] = out.strip().splitlines()[-1]
        client.burst.acked(op)
        client.acked.append(op)
        acks.add()
