"""Chaos runs: real daemons under random edits, SIGKILLs, partitions and a skewed clock.

Five ``roamsync serve`` processes (main, offices, one travel laptop) are
linked pairwise through loopback TCP proxies (``chaoslib.Link``). A schedule
drawn from a seed then, for ``ROAMSYNC_CHAOS_SECONDS``:

* creates, updates and deletes contacts and orders through the local HTTP API
  and through ``roamsync put`` (which opens the store itself while the daemon
  is down), including same-field edits sent to several devices at once and
  writes the travel matrix forbids;
* SIGKILLs daemons and restarts them a few seconds later, and sometimes stops
  one with SIGTERM (which must exit 0);
* cuts links (one device or a group isolated, or random links) and heals them;
* runs one device with its wall clock moved by ``ROAMSYNC_CLOCK_SKEW``;
* forges writes in main's name with the key of an enrolled travel device that
  no daemon runs (``tests/mallory.py``) and sends them straight to a daemon.

A write counts as acknowledged only when the client got its answer. At the
end every link is healed and every daemon up; once the stores converge
(bounded), all daemons stop with SIGTERM and the stores are checked:

a) every replica holds the same records (views, CRDT writes) and conflict log;
b) no acknowledged write is lost: each device's slot of each field holds its
   last acknowledged value (or a later one whose answer never came);
c) every record equals what the reference model (``tests/model.py``)
   predicts from the surviving writes and their causal context;
d) final order numbers are unique and every live order has one from main;
e) no forged write reached any replica, and every daemon that acknowledged a
   forgery recorded a rejection naming the forger (and no other rejection).

The seed is printed and fixed by default; ``ROAMSYNC_CHAOS_SEED=N`` replays
another schedule of random choices (process timing is not reproducible).
``tests/system/test_chaos.py`` runs a short round in ``make test``;
``tests/long/test_chaos_long.py`` (``make chaos``) runs long ones.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from mallory import Mallory

from roamsync.peer.core.priority import Write
from roamsync.peer.record import RecordDoc
from roamsync.schema import FieldType, allowed, get_module

from chaoslib import (
    HUNG,
    Cluster,
    StoreContents,
    Unreachable,
    read_state,
    read_store,
    roles_for,
    snapshot,
    wait_converged,
)
from model import DELETED, Model, MWrite

SEED = int(os.environ.get("ROAMSYNC_CHAOS_SEED", "20261202"))
SETTLE = float(os.environ.get("ROAMSYNC_CHAOS_SETTLE", "90"))  # bound on the final convergence
ANTI_ENTROPY = 2.0
MAX_DOWN = 2  # daemons down at once
IN_FLIGHT = 6  # concurrent write steps
EDITABLE = {
    "contacts": ["name", "phone", "email", "address"],
    "orders": ["title", "status", "total"],
}
OBSERVER = "observer"  # the model's device that knows every surviving write


@dataclass
class Attempt:
    """One write sent to a daemon, and what the client learnt of it."""

    daemon: str
    op: str  # create | update | delete
    module: str
    record: str | None
    fields: dict[str, Any]
    via: str  # api | cli
    outcome: str = "pending"  # acked | refused (not written) | unknown (no answer) | error
    forbidden: bool = False  # the travel matrix forbids it
    kill_after: float | None = None  # SIGKILL the daemon this long after sending
    detail: str = ""


@dataclass
class Chaos:
    cluster: Cluster
    rng: random.Random
    attempts: list[Attempt] = field(default_factory=list)
    records: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> module, creator
    stats: Counter[str] = field(default_factory=Counter)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    values: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    unclean: list[str] = field(default_factory=list)  # SIGTERMs that did not exit 0
    mallory: Mallory | None = None  # a stolen laptop's key, forging writes (forge)
    forged: list[str] = field(default_factory=list)  # daemons that acknowledged a forgery

    # -- the schedule -------------------------------------------------------------------

    async def run(self, seconds: float) -> None:
        actions: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.create_contact, 6),
            (self.create_order, 5),
            (self.update, 14),
            (self.conflict, 5),
            (self.delete, 2),
            (self.forbidden, 1),
            (self.forge, 1 if self.mallory is not None else 0),
            (self.kill, 1),
            (self.kill_mid_write, 1),
            (self.graceful_restart, 0 if seconds < 60 else 1),  # CI: the end checks SIGTERM
            (self.partition, 2),
        ]
        calls, weights = zip(*actions, strict=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.rng.choices(calls, weights)[0]()
            await asyncio.sleep(self.rng.uniform(0.0, 0.15))
        await self.finish()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def finish(self) -> None:
        """Let every pending write, restart and heal end (each is bounded), then heal
        all links and start every daemon that is down."""
        deadline = time.monotonic() + 180
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self.tasks), timeout=10)
        assert not self.tasks, f"{len(self.tasks)} writes, restarts or heals still pending"
        self.cluster.heal_all()
        for d in self.cluster.daemons.values():
            if not d.up:
                async with d.lock:
                    await self.cluster.start(d.name)

    def value(self, name: str) -> str:
        n = next(self.values)
        return f"{n}.{n % 100:02d}" if name == "total" else f"{name}-{n}"

    def names(self) -> list[str]:
        return self.cluster.names

    def pick(self, module: str) -> tuple[str, str] | None:
        ids = sorted(r for r, (m, _) in self.records.items() if m == module)
        if not ids:
            return None
        record = self.rng.choice(ids)
        return record, self.records[record][1]

    # -- writes ---------------------------------------------------------------------------

    def send(self, attempt: Attempt) -> None:
        """Start the write in the background, at most IN_FLIGHT at once."""
        attempt.forbidden = not self.permitted(attempt)

        async def go() -> None:
            async with self.slots:
                await self.write(attempt)

        self.spawn(go())

    def permitted(self, a: Attempt) -> bool:
        role = self.cluster.daemons[a.daemon].role
        if a.op == "create":
            return allowed(role, a.module, "create", own=True)
        creator = self.records[str(a.record)][1]
        op = "delete" if a.op == "delete" else "edit"
        return allowed(role, a.module, op, own=creator == a.daemon)

    def via(self, op: str) -> str:
        return "cli" if op != "delete" and self.rng.random() < 0.15 else "api"

    async def create_contact(self) -> None:
        name = self.rng.choice(self.names())
        fields = {"name": self.value("name"), "phone": self.value("phone")}
        self.send(Attempt(name, "create", "contacts", None, fields, self.via("create")))

    async def create_order(self) -> None:
        contact = self.pick("contacts")
        if contact is None:
            return
        name = self.rng.choice(self.names())
        fields = {"contact": contact[0], "title": self.value("title"), "total": self.value("total")}
        self.send(Attempt(name, "create", "orders", None, fields, self.via("create")))

    def allowed_writer(self, module: str, creator: str, op: str) -> str:
        """A device that may make this change (a travel device only where the matrix says)."""
        names = [
            n
            for n in self.names()
            if allowed(self.cluster.daemons[n].role, module, op, own=n == creator)
        ]
        return self.rng.choice(names)

    async def update(self) -> None:
        module = self.rng.choice(["contacts", "contacts", "orders"])
        target = self.pick(module)
        if target is None:
            return
        record, creator = target
        names = self.rng.sample(EDITABLE[module], self.rng.randint(1, 2))
        fields = {n: self.value(n) for n in names}
        writer = self.allowed_writer(module, creator, "edit")
        self.send(Attempt(writer, "update", module, record, fields, self.via("update")))

    async def conflict(self) -> None:
        """The same field written on two or three devices at once."""
        module = self.rng.choice(["contacts", "orders"])
        target = self.pick(module)
        if target is None:
            return
        record, creator = target
        name = self.rng.choice(EDITABLE[module])
        writers = {self.allowed_writer(module, creator, "edit") for _ in range(3)}
        self.stats["conflicting edits"] += 1
        for writer in writers:
            fields = {name: self.value(name)}
            self.send(Attempt(writer, "update", module, record, fields, self.via("update")))

    async def delete(self) -> None:
        module = self.rng.choice(["contacts", "orders", "orders"])
        target = self.pick(module)
        if target is None:
            return
        writer = self.allowed_writer(module, target[1], "delete")
        self.send(Attempt(writer, "delete", module, target[0], {DELETED: True}, "api"))

    async def forbidden(self) -> None:
        """Something the travel matrix forbids: delete a contact, edit someone else's order."""
        travel = [n for n in self.names() if self.cluster.daemons[n].role == "travel"]
        contact, order = self.pick("contacts"), self.pick("orders")
        if not travel:
            return
        name = travel[0]
        if order is not None and order[1] != name and self.rng.random() < 0.5:
            fields = {"status": self.value("status")}
            self.send(Attempt(name, "update", "orders", order[0], fields, self.via("update")))
        elif contact is not None:
            self.send(Attempt(name, "delete", "contacts", contact[0], {DELETED: True}, "api"))

    async def forge(self) -> None:
        """With a stolen laptop's key, write as main into a record a daemon holds and send
        it straight to that daemon: refused and reported there, never taken anywhere."""
        ready = [n for n in self.names() if self.cluster.daemons[n].ready]
        picked = self.pick(self.rng.choice(["contacts", "orders"]))
        if ready and picked is not None:
            self.spawn(self._forge(self.rng.choice(ready), picked[0]))

    async def _forge(self, name: str, record: str) -> None:
        assert self.mallory is not None
        d = self.cluster.daemons[name]
        field_name = "name" if self.records[record][0] == "contacts" else "status"
        async with d.lock:
            state = read_state(d.folder, record) if d.ready else None
            if state is None:
                return
            main = self.cluster.main.device
            values: dict[str, object] = {field_name: f"FORGED-{next(self.values)}"}
            update = self.mallory.write_as(record, main, "main", values, state=state)
            try:
                acked = await self.mallory.send(d.sync_port, [(record, update)])
            except Exception as exc:  # refused at TLS or hello, or the daemon went away
                self.stats[f"forgery not delivered: {type(exc).__name__}"] += 1
                return
        self.stats["forgeries sent"] += 1
        if acked:
            self.stats["forgeries acknowledged"] += 1
            self.forged.append(name)

    async def write(self, a: Attempt) -> None:
        d = self.cluster.daemons[a.daemon]
        async with d.lock:  # one write at a time per device, in the order of this list
            self.attempts.append(a)
            if a.via == "cli" and not d.up:
                self.stats["CLI writes while the daemon was down (store opened directly)"] += 1
            if a.kill_after is not None:
                self.spawn(self.kill_soon(a.daemon, a.kill_after))
            try:
                if a.via == "cli":
                    await self._cli(a)
                else:
                    await self._api(a)
            except Unreachable as exc:
                a.outcome, a.detail = ("unknown" if exc.sent else "refused"), str(exc)
        if a.outcome == "acked" and a.op == "create":
            assert a.record is not None
            self.records[a.record] = (a.module, a.daemon)
        self.stats[f"{a.op} {a.outcome}"] += 1
        if a.outcome == "refused":
            reason = a.detail if a.detail.endswith("Error") else "daemon down"
            self.stats[f"refused: {reason}"] += 1

    async def _api(self, a: Attempt) -> None:
        path = f"/records/{a.module}" + ("" if a.op == "create" else f"/{a.record}")
        method = {"create": "POST", "update": "PATCH", "delete": "DELETE"}[a.op]
        body = None if a.op == "delete" else a.fields
        status, answer = await self.cluster.request(a.daemon, method, path, body)
        if status == 200:
            a.outcome, a.record = "acked", answer["id"]
        elif status in (403, 404):  # refused before anything was written
            a.outcome, a.detail = "refused", answer["error"]
        else:
            a.outcome, a.detail = "error", f"{status} {answer}"

    async def _cli(self, a: Attempt) -> None:
        d = self.cluster.daemons[a.daemon]
        args = ["put", str(d.folder), a.module, *(f"{k}={v}" for k, v in a.fields.items())]
        if a.op == "update":
            args += ["--id", str(a.record)]
        code, out, err = await self.cluster.cli(a.daemon, *args)
        refusal = [e for e in ("RecordNotFoundError", "PermissionDeniedError") if e in err]
        if code == 0:
            a.outcome, a.record = "acked", out.splitlines()[-1]
        elif refusal:
            a.outcome, a.detail = "refused", refusal[0]
        elif "did not answer" in err:  # the daemon died under the command
            a.outcome, a.detail = "unknown", err
        else:
            a.outcome, a.detail = "error", err

    # -- faults ---------------------------------------------------------------------------

    def victim(self) -> str | None:
        """A running daemon to kill, unless MAX_DOWN are down already."""
        up = [n for n, d in self.cluster.daemons.items() if d.ready]
        return self.rng.choice(up) if len(self.names()) - len(up) < MAX_DOWN else None

    async def kill(self, name: str | None = None) -> None:
        """SIGKILL a daemon; it restarts 1-6 s later."""
        name = name or self.victim()
        if name is None or not self.cluster.daemons[name].ready:
            return
        await self.cluster.kill(name)
        self.stats["SIGKILL"] += 1
        self.spawn(self.restart_later(name, self.rng.uniform(1.0, 6.0)))

    async def kill_mid_write(self) -> None:
        """SIGKILL a daemon a few milliseconds after sending it a write."""
        name, target = self.victim(), self.pick("contacts")
        if name is None or target is None:
            return
        fields = {"phone": self.value("phone")}
        attempt = Attempt(name, "update", "contacts", target[0], fields, "api")
        attempt.kill_after = self.rng.uniform(0.0, 0.02)
        self.send(attempt)

    async def kill_soon(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.kill(name)

    async def restart_later(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        d = self.cluster.daemons[name]
        async with d.lock:
            if not d.up:
                await self.cluster.start(name)
                self.stats["restarts"] += 1

    async def graceful_restart(self) -> None:
        """SIGTERM must shut a daemon down cleanly, whatever it was doing."""
        ready = [d for d in self.cluster.daemons.values() if d.ready]
        if not ready:
            return
        d = self.rng.choice(ready)
        async with d.lock:
            if not d.ready:  # killed meanwhile
                return
            code = await self.cluster.stop(d.name)
            self.stats["SIGTERM"] += 1
            if code != 0:
                self.unclean.append(f"{d.name} exited {code} on SIGTERM ({HUNG}: hung)")
            await self.cluster.start(d.name)

    async def partition(self) -> None:
        links = list(self.cluster.links.values())
        if self.rng.random() < 0.6:
            group = set(self.rng.sample(self.names(), self.rng.randint(1, len(self.names()) // 2)))
            cut = self.cluster.links_between(group)
            self.stats["partitions (group isolated)"] += 1
        else:
            cut = self.rng.sample(links, self.rng.randint(1, max(1, len(links) // 3)))
            self.stats["partitions (random links)"] += 1
        for link in cut:
            link.cut()
        self.spawn(self.heal_later(cut, self.rng.uniform(1.5, 8.0)))

    async def heal_later(self, links: list[Any], delay: float) -> None:
        await asyncio.sleep(delay)
        for link in links:
            link.heal()


# -- the checks -----------------------------------------------------------------------------


def decode_writes(contents: StoreContents) -> dict[str, list[Write]]:
    return {i: RecordDoc.load(0, r["state"]).writes() for i, r in contents.records.items()}


def write_key(w: Write) -> tuple[Any, ...]:
    return (w.device, w.field, w.t, orjson.dumps(w.value), tuple(sorted(w.seen.items())))


def model_of(record: str, writes: list[Write], roles: dict[str, str]) -> Model:
    """The reference model holding a record's surviving writes, all known to OBSERVER.

    Each write's causal context becomes the model's ``knew`` set: the writes its
    author had seen (its own earlier ones, and those its version vector covers).
    Model times are ranks of (t, device), so "later" and the tie-break by device
    mean the same as for the real hybrid-clock times.
    """
    rank = {key: i for i, key in enumerate(sorted({(w.t, w.device) for w in writes}), start=1)}
    model = Model({**roles, OBSERVER: "office"})
    for w in writes:
        knew = frozenset(
            (rank[(o.t, o.device)], o.field)
            for o in writes
            if (o.device == w.device and o.t < w.t)
            or (o.device != w.device and w.seen.get(o.device, -1) >= o.t)
        )
        mw = MWrite(
            rank[(w.t, w.device)], record, w.field, w.device, roles[w.device], w.value, knew
        )
        model.writes[mw.id] = mw
        model.know[OBSERVER].add(mw.id)
    return model


Competitors = tuple[str, frozenset[tuple[str, bytes]]]  # field, {(device, value)}


def predicted_conflicts(model: Model, record: str) -> set[Competitors]:
    """Fields whose model heads are two or more: the open conflicts the log must show."""
    by_field: dict[str, list[MWrite]] = {}
    for w in model.known(OBSERVER, record):
        by_field.setdefault(w.field, []).append(w)
    found = set()
    for name, ws in by_field.items():
        hs = model.heads(ws)
        if len(hs) > 1:
            found.add((name, frozenset((h.device, orjson.dumps(h.value)) for h in hs)))
    return found


def logged_conflicts(episodes: list[bytes]) -> set[Competitors]:
    """The open conflicts in a record's stored log (not the delete-versus-edit ones)."""
    found = set()
    for raw in episodes:
        ep = orjson.loads(raw)
        if ep.get("open") and ep["p"] != "delete":
            found.add((ep["f"], frozenset((v[0], orjson.dumps(v[3])) for v in ep["vs"])))
    return found


def divergences(
    record: str,
    row: dict[str, Any],
    writes: list[Write],
    roles: dict[str, str],
    episodes: list[bytes],
) -> list[str]:
    """How a stored record differs from the model: its view, and its open conflicts."""
    view = orjson.loads(row["view"])
    found = [
        f"{record}: slot of {w.device} says role {w.role}"
        for w in writes
        if roles.get(w.device) != w.role
    ]
    if found:
        return found
    model = model_of(record, writes, roles)
    predicted, logged = predicted_conflicts(model, record), logged_conflicts(episodes)
    if predicted != logged:
        found.append(f"{record}: open conflicts {logged}, the model says {predicted}")
    expected = model.view(OBSERVER, record)
    if (expected is None) != view["deleted"]:
        return [*found, f"{record}: deleted={view['deleted']}, the model says {expected is None}"]
    if expected is None:
        return found
    module = get_module(row["module"])
    plain = [n for n, f in module.fields.items() if f.type is not FieldType.NOTE]
    found += [
        f"{record}.{n}: {view['fields'][n]!r}, the model says {expected.get(n)!r}"
        for n in plain
        if view["fields"][n] != expected.get(n)
    ]
    return found + [
        f"{record}: the model has unknown field {n}" for n in set(expected) - set(plain)
    ]


def lost_writes(
    attempts: list[Attempt], device: dict[str, str], writes: dict[str, list[Write]]
) -> list[str]:
    """Per device, record and field: the device's slot holds its last acknowledged value,
    or the value of a later write whose answer never came; never a refused one.
    ``device`` maps daemon names to device ids."""
    history: dict[tuple[str, str, str], list[Attempt]] = {}
    for a in attempts:
        if a.record is not None:
            for name in a.fields:
                history.setdefault((a.daemon, a.record, name), []).append(a)
    lost = []
    for (daemon, record, name), tries in history.items():
        acked = [i for i, a in enumerate(tries) if a.outcome == "acked"]
        start = acked[-1] if acked else 0
        ok = {
            orjson.dumps(a.fields[name]) for a in tries[start:] if a.outcome in ("acked", "unknown")
        }
        slot = [w for w in writes.get(record, []) if w.device == device[daemon] and w.field == name]
        have = orjson.dumps(slot[0].value) if slot else None
        if have in ok or (have is None and not acked):
            continue
        lost.append(f"{daemon} {record}.{name}: slot {have!r}, acknowledged {sorted(ok)}")
    return lost


def number_problems(contents: StoreContents) -> list[str]:
    orders = {i: r for i, r in contents.records.items() if r["module"] == "orders"}
    final = Counter(
        r["number"] for r in orders.values() if r["number"] and not r["number"].startswith("P-")
    )
    problems = [f"order number {n} given {k} times" for n, k in final.items() if k > 1]
    problems += [
        f"live order {i} has no final number ({r['number']})"
        for i, r in orders.items()
        if not r["deleted"] and (not r["number"] or r["number"].startswith("P-"))
    ]
    return problems


def check(chaos: Chaos) -> dict[str, Any]:
    cluster = chaos.cluster
    stores = {n: read_store(d.folder) for n, d in cluster.daemons.items()}
    main_name = cluster.names[0]
    devices = {n: d.device for n, d in cluster.daemons.items()}
    main = stores[main_name]
    forger = cluster.forger.device if cluster.forger is not None else None
    writes = {n: decode_writes(s) for n, s in stores.items()}
    roles = cluster.roles_by_device()
    episodes: dict[str, list[bytes]] = {r: [] for r in main.records}
    for r, raw in main.conflicts:
        episodes[r].append(raw)
    keyed = {n: {r: sorted(map(write_key, ws)) for r, ws in w.items()} for n, w in writes.items()}
    report = {
        "replicas differing from main": sorted(
            n
            for n, s in stores.items()
            if snapshot(s) != snapshot(main) or keyed[n] != keyed[main_name]
        ),
        "rejections": [
            f"{n}: {r}" for n, s in stores.items() for r in s.rejections if r[3] != forger
        ],
        "forgeries taken": [
            f"{n}: {r}"
            for n, s in stores.items()
            for r, row in s.records.items()
            if b"FORGED-" in row["view"]
        ],
        "forgeries not reported": sorted(
            n for n in set(chaos.forged) if not any(r[3] == forger for r in stores[n].rejections)
        ),
        "divergences from the model": [
            d
            for r, row in main.records.items()
            for d in divergences(r, row, writes[main_name][r], roles, episodes[r])
        ],
        "lost acknowledged writes": lost_writes(chaos.attempts, devices, writes[main_name]),
        "number problems": number_problems(main),
        "forbidden writes acknowledged": [
            a for a in chaos.attempts if a.forbidden and a.outcome == "acked"
        ],
        "errors": [
            f"{a.daemon} {a.op} {a.module}: {a.detail}"
            for a in chaos.attempts
            if a.outcome == "error"
        ],
    }
    applied = {
        (w.device, r, w.field, orjson.dumps(w.value))
        for r, ws in writes[main_name].items()
        for w in ws
    }
    unknown = [a for a in chaos.attempts if a.outcome == "unknown" and a.record is not None]
    report["unanswered writes found applied"] = sum(
        all(
            (devices[a.daemon], a.record, k, orjson.dumps(v)) in applied
            for k, v in a.fields.items()
        )
        for a in unknown
    )
    report["records"] = Counter(r["module"] for r in main.records.values() if not r["deleted"])
    report["conflict log entries"] = len(main.conflicts)
    return report


async def run_round(root: Path, seed: int, seconds: float, peers: int) -> dict[str, Any]:
    rng = random.Random(seed)
    roles = roles_for(peers)
    skewed = rng.choice(list(roles))
    skew = rng.choice([-120.0, -90.0, 90.0, 120.0])
    cluster = Cluster(root, roles, anti_entropy=ANTI_ENTROPY, skew={skewed: skew}, forger=True)
    print(f"\nchaos seed {seed}: {peers} daemons, {seconds:.0f} s, {skewed} clock {skew:+.0f} s")
    chaos = Chaos(cluster, rng)
    try:
        await cluster.setup()
        assert cluster.forger is not None
        chaos.mallory = await Mallory.open(cluster.forger.folder)
        started = time.monotonic()
        await chaos.run(seconds)
        chaos_time = time.monotonic() - started
        converged = await wait_converged(cluster, SETTLE, poll=0.25)
        exits = {n: await cluster.stop(n) for n in cluster.names}
        report = check(chaos)
    finally:
        for task in list(chaos.tasks):  # only after a failure: run() waits for them
            task.cancel()
        if chaos.tasks:
            await asyncio.wait(list(chaos.tasks), timeout=30)
        # Every write and what its client learnt, for a post-mortem of a failed run.
        (root / "attempts.json").write_bytes(orjson.dumps(chaos.attempts))
        if chaos.mallory is not None:
            await chaos.mallory.close()
        await cluster.close()
    outcomes = Counter(a.outcome for a in chaos.attempts)
    report["unclean exits"] = chaos.unclean + [
        f"{n} exited {code} on the final SIGTERM" for n, code in exits.items() if code != 0
    ]
    report.update(
        seed=seed,
        skew=f"{skewed} {skew:+.0f} s",
        chaos_seconds=round(chaos_time, 1),
        converged_after=round(converged, 1),
        attempts=len(chaos.attempts),
        outcomes=dict(outcomes),
        stats=dict(chaos.stats),
        exit_codes=exits,
    )
    return report


def summary(report: dict[str, Any]) -> str:
    lines = [f"  {k}: {v if not isinstance(v, list) else len(v)}" for k, v in report.items()]
    return "\n".join(lines)


CHECKS = (
    "replicas differing from main",
    "rejections",
    "forgeries taken",
    "forgeries not reported",
    "unclean exits",
    "divergences from the model",
    "lost acknowledged writes",
    "number problems",
    "forbidden writes acknowledged",
    "errors",
)


def check_report(report: dict[str, Any]) -> None:
    """Fail on anything a round found; print its summary first."""
    print(summary(report))
    for key in CHECKS:
        assert not report[key], f"seed {report['seed']}: {key}: {report[key][:10]}"
    assert report["outcomes"].get("acked", 0) > 20, "too few writes got through to test anything"
