"""A replica: the public :class:`Peer` API over the store, the records and the priority layer.

>>> async def example(path):
...     async with await Peer.open(path, device="laptop-1", role="travel") as peer:
...         acme = await peer.create("contacts", {"name": "Acme AS"})
...         order = await peer.create("orders", {"contact": acme, "total": "120.00"})
...         return peer.get("orders", order)["number"]      # 'P-laptop-1-1'

Every write is validated, checked against the permission matrix and stored
durably before the call returns; bad input raises an error from the
:mod:`roamsync.schema.errors` tree and writes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NewType

import orjson

from roamsync.peer.arrival import (
    MALFORMED,
    PROVISIONAL,
    READY,
    REJECTED,
    UNCHANGED,
    Arrival,
    Ignored,
    Plain,
    Preparer,
    arrive,
    ignored,
    view_row,
    violation,
)
from roamsync.peer.clock import HybridClock, system_wall, to_millis
from roamsync.peer.priority import (
    DELETED,
    POLICIES,
    Episode,
    Write,
    heads,
    is_allowed,
    pick,
    retained,
)
from roamsync.peer.record import (
    RecordContent,
    RecordDoc,
    decode_episode,
)
from roamsync.peer.store import STORE_ID, Rejection, SqliteStore, Store
from roamsync.schema import (
    ROLES,
    ConflictNotFoundError,
    FieldType,
    JsonValue,
    Module,
    PeerClosedError,
    RecordNotFoundError,
    StoreError,
    UsageError,
    check,
    get_module,
    validate_fields,
)
from roamsync.schema.fields import decode_value
from roamsync.schema.permissions import may_write_record

log = logging.getLogger(__name__)

RecordId = NewType("RecordId", str)
DeviceId = NewType("DeviceId", str)
STORE_FILE = "roamsync.sqlite3"
RecordView = dict[str, Any]
RecordViews = list[RecordView]  # aliases, since Peer.list shadows the builtin in the class
FeedItems = tuple[list[tuple[int, str, bytes]], int]
Prepared = asyncio.Future[list[Plain]]  # arrivals a worker is reading (Peer.prepare)


@dataclass(frozen=True)
class Conflict:
    """One entry of the conflict log."""

    record: str
    module: str
    field: str
    values: list[dict[str, Any]]  # each: value, device, role, time
    winner: dict[str, Any]
    policy: str  # central | local | latest | manual | delete
    status: str  # open | pending | resolved
    time: dt.datetime
    resolved_by: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    """What merging a batch of remote updates did."""

    changed: int = 0
    rejected: int = 0
    malformed: int = 0


class Peer:
    """One device's full replica of the company database."""

    def __init__(
        self,
        store: Store,
        device: str,
        role: str,
        *,
        clock: Callable[[], float] | None = None,
        cache_size: int = 2048,
        policy: str = "central",
        label: str | None = None,
        workers: int | None = None,
    ) -> None:
        if role not in ROLES:
            raise UsageError(f"role must be one of {ROLES}, not {role!r}")
        if policy not in POLICIES:
            raise UsageError(f"policy must be one of {POLICIES}, not {policy!r}")
        self.store = store
        self.device = DeviceId(device)
        self.label = label or device  # in provisional numbers: P-<label>-<n>
        self.role = role
        self.policy = policy
        self._cache: OrderedDict[str, RecordDoc] = OrderedDict()
        self._cache_size = cache_size
        self._closed = False
        self._listeners: set[asyncio.Event] = set()
        self._checkpoints: dict[str, int] = {}
        self._unsaved_checkpoints: set[str] = set()
        self._preparer = Preparer(workers)  # reads large batches of new records beside us
        self.client_id = self._init_identity()
        last = int(store.meta("hlc") or 0)
        self.clock = HybridClock(last, system_wall() if clock is None else clock)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        device: str = "device",
        role: str = "office",
        **options: Any,
    ) -> Peer:
        """Create or reopen the replica stored in directory ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (instant, local)
        peer = cls(SqliteStore(folder / STORE_FILE), device, role, **options)
        if peer.role == "main":
            peer._assign_numbers()  # finish numbering a crash may have interrupted
        return peer

    def _init_identity(self) -> int:
        if self.store.meta(STORE_ID) is None:  # the SQLite store makes its own at open
            self.store.save([], {STORE_ID: secrets.token_hex(8)})
        stored = self.store.meta("device")
        if stored is None:
            client_id = secrets.randbits(31) << 1  # even: client_id + 1 is its notes lane
            meta = {"device": self.device, "role": self.role, "client_id": str(client_id)}
            self.store.save([], meta)
            return client_id
        if stored != self.device or self.store.meta("role") != self.role:
            raise StoreError(
                f"this store belongs to device {stored!r} with role "
                f"{self.store.meta('role')!r}, not {self.device!r} with role {self.role!r}"
            )
        return int(self.store.meta("client_id") or 0)

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if not self._closed:
            self.flush_checkpoints()
            self._closed = True
            self._preparer.close()
            self._cache.clear()
            self.store.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise PeerClosedError(f"peer {self.device!r} is closed")

    # -- writes -------------------------------------------------------------

    async def create(
        self, module: str, fields: Mapping[str, object], *, record_id: str | None = None
    ) -> RecordId:
        """Create a record and return its id (a new random one unless ``record_id``)."""
        self._check_open()
        mod = get_module(module)
        check(self.role, module, "create", own=True)
        values = validate_fields(module, fields, creating=True)
        self._check_references(mod, values)
        if record_id is None:
            record_id = secrets.token_hex(10)
        elif not (0 < len(record_id) <= 64 and record_id.isascii()):
            raise UsageError(f"record id {record_id!r} is not 1-64 ASCII characters")
        elif self.store.state(record_id) is not None:
            raise UsageError(f"record {record_id!r} exists already")
        rec = RecordDoc.load(self.client_id)
        meta: dict[str, str] = {}
        t = self.clock.now()
        if mod.numbered:
            values["number"] = self._next_number(module, meta)
        with rec.doc.transaction():
            rec.init(module, self.device, self.role, t)
        self._write(rec, mod, t, values)
        self._commit([(record_id, rec)], meta)
        return RecordId(record_id)

    async def update(self, module: str, record_id: str, fields: Mapping[str, object]) -> None:
        """Change some fields of a record; ``None`` clears a field."""
        self._check_open()
        mod = get_module(module)
        rec = self._live(module, record_id)
        check(self.role, module, "edit", own=rec.creator == self.device)
        values = validate_fields(module, fields, creating=False)
        self._check_references(mod, values)
        t = self.clock.now()
        self._write(rec, mod, t, values)
        self._commit([(record_id, rec)])

    async def delete(self, module: str, record_id: str) -> None:
        """Delete a record. Edits made concurrently elsewhere lose to the delete (logged)."""
        self._check_open()
        mod = get_module(module)
        rec = self._live(module, record_id)
        check(self.role, module, "delete", own=rec.creator == self.device)
        t = self.clock.now()
        self._write(rec, mod, t, {DELETED: True})
        self._commit([(record_id, rec)])

    async def restore(self, module: str, record_id: str) -> None:
        """Undo a delete, bringing back the record with every edit it had."""
        self._check_open()
        mod = get_module(module)
        rec = self._doc(record_id)
        if rec is None or rec.module != module:
            raise RecordNotFoundError(module, record_id)
        check(self.role, module, "delete", own=rec.creator == self.device)
        t = self.clock.now()
        self._write(rec, mod, t, {DELETED: False})
        self._commit([(record_id, rec)])

    def _write(
        self,
        rec: RecordDoc,
        mod: Module,
        t: int,
        values: Mapping[str, JsonValue],
        **resolution: Any,
    ) -> None:
        plain = {k: v for k, v in values.items() if k == DELETED or not _is_note(mod, k)}
        with rec.doc.transaction():
            rec.claim_client(self.device, self.role)
            rec.put(self.device, self.role, t, plain, **resolution)
        for name, value in values.items():
            if name != DELETED and _is_note(mod, name):
                rec.set_note(name, str(value or ""))

    def _check_references(self, mod: Module, values: Mapping[str, JsonValue]) -> None:
        for name, value in values.items():
            field = mod.fields.get(name)
            if field is None or field.type is not FieldType.REFERENCE or value is None:
                continue
            target = str(field.target)
            raw = self.store.view(str(value))
            view = None if raw is None else _load_view(raw)
            if view is None or view["module"] != target or view["deleted"]:
                raise RecordNotFoundError(target, str(value))

    def _next_number(self, module: str, meta: dict[str, str]) -> str:
        """Main's next final number, or this device's next provisional one."""
        key = f"number:{module}"
        n = int(meta.get(key) or self.store.meta(key) or 0) + 1
        meta[key] = str(n)
        return str(n) if self.role == "main" else f"{PROVISIONAL}{self.label}-{n}"

    # -- reads --------------------------------------------------------------

    def get(self, module: str, record_id: str) -> dict[str, Any]:
        """The resolved fields of a record, plus ``id``."""
        self._check_open()
        mod = get_module(module)
        raw = self.store.view(record_id)
        view = None if raw is None else _load_view(raw)
        if view is None or view["module"] != module or view["deleted"]:
            raise RecordNotFoundError(module, record_id)
        return _present(mod, view)

    def list(self, module: str) -> RecordViews:
        """All live records of a module, ordered by id."""
        self._check_open()
        mod = get_module(module)
        return [_present(mod, _load_view(raw)) for raw in self.store.views(module)]

    def find(self, module: str, number: str) -> RecordViews:
        """Quotes or orders whose final or provisional number is ``number``."""
        self._check_open()
        mod = get_module(module)
        return [_present(mod, _load_view(raw)) for raw in self.store.find_number(module, number)]

    def module_of(self, record_id: str) -> str:
        """The module a record belongs to; RecordNotFoundError if there is no such record."""
        self._check_open()
        raw = self.store.view(record_id)
        if raw is None:
            raise RecordNotFoundError("?", record_id)
        return str(_load_view(raw)["module"])

    def count(self, module: str) -> int:
        self._check_open()
        get_module(module)
        return self.store.count(module)

    def conflicts(self) -> Sequence[Conflict]:
        """The conflict log: open conflicts and those closed in the last seven days."""
        self._check_open()
        now = self.clock.now()
        out = []
        for record, module, raw in self.store.conflicts():
            for ep in retained([decode_episode(orjson.loads(raw))], now):
                out.append(self._present_conflict(record, module, ep))
        return out

    def rejections(self) -> Sequence[Rejection]:
        """Writes from other devices that broke the permission matrix and were ignored."""
        self._check_open()
        return self.store.rejections()

    def _present_conflict(self, record: str, module: str, ep: Episode) -> Conflict:
        mine = any(v.device == self.device for v in ep.versions)
        status = "resolved" if not ep.open else "open"
        if ep.open and mine and self.policy == "manual" and ep.policy != "delete":
            status = "pending"

        def version(v: Any) -> dict[str, Any]:
            return {"value": v.value, "device": v.device, "role": v.role, "time": _time(v.t)}

        return Conflict(
            record=record,
            module=module,
            field=ep.field,
            values=[version(v) for v in ep.versions],
            winner=version(ep.winner),
            policy=ep.policy,
            status=status,
            time=_time(ep.time),
            resolved_by=ep.resolved_by,
        )

    # -- conflict policies ----------------------------------------------------

    async def resolve(
        self,
        module: str,
        record_id: str,
        field: str,
        *,
        pick: int | None = None,
        value: object = None,
    ) -> None:
        """Settle an open conflict by hand: keep competing value number ``pick``
        (0-based, in the order :meth:`conflicts` lists them) or write ``value``."""
        self._check_open()
        mod = get_module(module)
        rec = self._live(module, record_id)
        candidates = self._open_heads(rec, field)
        if len(candidates) < 2:
            raise ConflictNotFoundError(f"no open conflict on {module} {record_id} {field!r}")
        check(self.role, module, "edit", own=rec.creator == self.device)
        if pick is not None:
            ordered: Sequence[Write] = sorted(candidates, key=lambda w: w.version)
            if not 0 <= pick < len(ordered):
                raise ConflictNotFoundError(f"pick must be 0..{len(ordered) - 1}, not {pick}")
            chosen: Write | None = ordered[pick]
            stored = ordered[pick].value
        else:
            chosen = None
            stored = validate_fields(module, {field: value}, creating=False)[field]
        t = self.clock.now()
        self._write(rec, mod, t, {field: stored}, policy="manual", chosen=_pick_map(field, chosen))
        self._commit([(record_id, rec)])

    async def apply_policy(self, policy: str) -> int:
        """Settle this device's open conflicts by ``policy``; returns how many.

        ``central`` keeps main's (or the default winner's) value, ``local`` this
        device's, ``latest`` the last written; ``manual`` leaves them pending for
        :meth:`resolve`.
        """
        self._check_open()
        if policy not in POLICIES:
            raise UsageError(f"policy must be one of {POLICIES}, not {policy!r}")
        self.policy = policy
        if policy == "manual":
            return 0
        todo = []
        for record, module, raw in self.store.conflicts():
            ep = decode_episode(orjson.loads(raw))
            mine = any(v.device == self.device for v in ep.versions)
            if ep.open and mine and ep.policy != "delete":
                todo.append((ep.time, record, ep.field, module))
        todo.sort()  # settle in a fixed order: episode time, record, field
        done: dict[str, RecordDoc] = {}
        settled = 0
        for _, record, field, module in todo:
            rec = self._doc(record)
            if rec is None or not self._may_settle(record, rec):
                continue
            candidates = self._open_heads(rec, field)
            chosen = pick(candidates, policy, self.device) if len(candidates) > 1 else None
            if chosen is None:
                continue
            t = self.clock.now()
            self._write(
                rec,
                get_module(module),
                t,
                {field: chosen.value},
                policy=policy,
                chosen=_pick_map(field, chosen),
            )
            done[record] = rec
            settled += 1
        self._commit(done.items())
        return settled

    def _may_settle(self, record_id: str, rec: RecordDoc) -> bool:
        """Conflicts on a deleted record, or one this device may not write, are left alone."""
        raw = self.store.view(record_id)
        if raw is None or _load_view(raw)["deleted"]:
            return False
        return may_write_record(self.role, str(rec.module), own=rec.creator == self.device)

    def _open_heads(self, rec: RecordDoc, field: str) -> Sequence[Write]:
        module = str(rec.module)
        return heads(
            w for w in rec.writes() if w.field == field and is_allowed(module, rec.creator, w)
        )

    # -- sync (used by roamsync.transport) ------------------------------------

    def last_seq(self) -> int:
        return self.store.last_seq()

    def listen(self) -> asyncio.Event:
        """An event set whenever the change feed grows; :meth:`unlisten` when done."""
        event = asyncio.Event()
        self._listeners.add(event)
        return event

    def unlisten(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    def changes(self, after: int, limit: int = 500) -> Sequence[tuple[int, str, bytes]]:
        """Records changed after local change-feed position ``after``: (seq, id, state)."""
        self._check_open()
        return self.store.changes(after, limit)

    def feed(self, peer: str, after: int, limit: int = 500) -> FeedItems:
        """What ``peer`` needs from the feed after ``after``: (seq, id, state) items and the
        position read up to. A record that arrived new from ``peer`` and has not
        changed since is not sent back to it."""
        self._check_open()
        return self.store.feed(after, limit, peer)

    def count_feed(self, peer: str, after: int) -> int:
        """How many records :meth:`feed` has left for ``peer`` after ``after``."""
        return self.store.count_feed(after, peer)

    @property
    def store_id(self) -> str:
        """This replica's store: a repaired device has a new one (sent in the hello)."""
        return self.store.meta(STORE_ID) or ""

    def meet(self, peer: str, store_id: str) -> None:
        """Note the store a peer's hello names. If the peer's store changed since we
        last met (it was repaired), our checkpoint for it is void and so is the rule
        that records which came from it are not sent back: send it everything."""
        key = f"store:{peer}"
        known = self.store.meta(key)
        if known == store_id or not store_id:
            return
        meta = {key: store_id}
        if known is not None:
            log.warning("%s has a new store (repaired?): sending it every record again", peer)
            self._checkpoints[peer] = 0
            self._unsaved_checkpoints.discard(peer)
            meta[f"checkpoint:{peer}"] = "0"
            self.store.forget_origin(peer)
        self.store.save([], meta)

    def checkpoint(self, peer: str) -> int:
        """How far in this replica's change feed ``peer`` has acknowledged."""
        if peer not in self._checkpoints:
            self._checkpoints[peer] = int(self.store.meta(f"checkpoint:{peer}") or 0)
        return self._checkpoints[peer]

    def set_checkpoint(self, peer: str, seq: int) -> None:
        """Record an acknowledgement. It is stored with the next commit, or by
        :meth:`flush_checkpoints`: a checkpoint lost in a crash only means some
        records are sent again, which merging makes harmless, and it saves a
        durable commit per acknowledgement."""
        if seq > self.checkpoint(peer):
            self._checkpoints[peer] = seq
            self._unsaved_checkpoints.add(peer)

    def flush_checkpoints(self) -> None:
        if self._unsaved_checkpoints and not self._closed:
            self.store.save([], self._take_checkpoints())

    def _take_checkpoints(self) -> dict[str, str]:
        saved = {f"checkpoint:{p}": str(self._checkpoints[p]) for p in self._unsaved_checkpoints}
        self._unsaved_checkpoints.clear()
        return saved

    def prepare(self, items: Sequence[tuple[str, bytes]], source: str = "") -> Prepared | None:
        """Start reading a large batch in a worker process, for :meth:`apply_remote` to use
        (``None`` if the batch is small or there is no worker). A session calls it as a
        batch comes in, so the worker reads it while this process stores the one before."""
        return self._preparer.submit(items, source or None)

    def expect(self, count: int) -> None:
        """A peer says ``count`` records are coming: make ready to read them."""
        self._preparer.warm(count)

    async def apply_remote(
        self,
        items: Sequence[tuple[str, bytes]],
        source: str = "",
        prepared: Prepared | None = None,
    ) -> ApplyResult:
        """Merge record updates from another replica, store them, and (on main)
        number the provisional quotes and orders that arrived. ``prepared``: what
        :meth:`prepare` started for these same items."""
        self._check_open()
        arrivals = await self._preparer.result(prepared)
        self._check_open()
        changed: dict[str, RecordContent | Arrival] = {}
        arrived_new: set[str] = set()
        states: dict[str, bytes] = {}
        rejected = malformed = 0
        missing = {rid for rid, _ in items if rid not in self._cache}
        stored = self.store.states(missing)  # one query for the batch, not one per record
        for index, (record_id, update) in enumerate(items):
            existing = self._merge_base(record_id, states, stored, missing)
            outcome: RecordContent | Arrival | str
            if existing is None:  # new here: what the worker read, if it did
                arrival = arrivals[index] if arrivals else arrive(record_id, update, source or None)
                outcome = self._arrived(record_id, arrival, source)
            else:
                outcome = self._merge_one(record_id, update, source, existing)
            if isinstance(outcome, Arrival):
                changed[record_id] = outcome
                states[record_id] = update  # applied to nothing, the update is the state
                arrived_new.add(record_id)
            elif isinstance(outcome, RecordDoc):
                changed[record_id] = outcome
                state = states[record_id] = outcome.encode()
                if state == update:  # we hold exactly what the source sent: no echo
                    arrived_new.add(record_id)
                else:
                    arrived_new.discard(record_id)
            elif outcome == REJECTED:
                rejected += 1
            elif outcome == MALFORMED:
                malformed += 1
        origins = {record_id: source for record_id in arrived_new} if source else {}
        self._commit(changed.items(), report=True, origins=origins, states=states)
        if self.role == "main":
            self._assign_numbers()
        return ApplyResult(len(changed), rejected, malformed)

    def _merge_base(
        self,
        record_id: str,
        states: Mapping[str, bytes],
        stored: Mapping[str, bytes],
        missing: set[str],
    ) -> RecordDoc | None:
        """The document an item of a batch merges into: a copy of what an earlier item of
        the batch made (so that a bad item cannot spoil it), else the cached or stored one."""
        if record_id in states:
            return RecordDoc.load(self.client_id, states[record_id])
        existing = self._cache.get(record_id)
        if existing is not None:
            return existing
        # Not cached when the batch began (``stored`` has it), or evicted since by a bad item.
        state = stored.get(record_id) if record_id in missing else self.store.state(record_id)
        return None if state is None else RecordDoc.load(self.client_id, state)

    def _arrived(self, record_id: str, arrival: Arrival, source: str) -> Arrival | str:
        """A record this replica has never had: the arrival if it is stored, else its outcome
        (logged, and recorded if rejected)."""
        if arrival.outcome == MALFORMED:
            log.warning(
                "malformed update for record %s from %s: %s", record_id, source, arrival.reason
            )
        elif arrival.outcome == REJECTED:
            self._reject(record_id, arrival.module, source, arrival.reason)
        return arrival if arrival.outcome == READY else arrival.outcome

    def _merge_one(
        self, record_id: str, update: bytes, source: str, existing: RecordDoc
    ) -> RecordContent | str:
        before = existing.state_vector()
        identity = (existing.module, existing.creator)
        try:
            changed = existing.apply(update)
            if changed:
                existing.check()  # a well-formed Yjs update can still carry malformed data
        except ValueError as exc:  # an update or record that does not decode (record.py)
            log.warning("malformed update for record %s from %s: %s", record_id, source, exc)
            self._evict(record_id)
            return MALFORMED
        if not changed:
            return UNCHANGED
        return self._checked(record_id, existing, before, identity, source)

    def _checked(
        self,
        record_id: str,
        rec: RecordContent,
        before: Mapping[int, int],
        identity: tuple[str | None, str] | None,
        source: str,
    ) -> RecordContent | str:
        """``rec`` if its merged changes are allowed, else "rejected" (logged and recorded)."""
        reason = violation(rec, before, identity)
        if reason is None:
            return rec
        self._evict(record_id)  # drop the merged document: the store still has the state before
        self._reject(record_id, str(rec.module), source, reason)
        return REJECTED

    def _reject(self, record_id: str, module: str, source: str, reason: str) -> None:
        log.warning("rejected update for record %s from %s: %s", record_id, source, reason)
        self.store.reject(Rejection(self.clock.now(), record_id, module, source, reason))

    def _assign_numbers(self) -> None:
        """Main gives each provisional quote and order the next final number.

        Order: creation time, then record id, so the outcome does not depend on
        the order updates arrived in.
        """
        pending = [(rid, rec) for rid in self.store.unnumbered() if (rec := self._doc(rid))]
        if not pending:
            return
        pending.sort(key=lambda item: (item[1].created_t, item[0]))
        meta: dict[str, str] = {}
        for _, rec in pending:
            module = get_module(str(rec.module))
            provisional = rec.resolved().values.get("number")
            n = self._next_number(module.name, meta)
            t = self.clock.now()
            self._write(rec, module, t, {"number": n, "provisional_number": provisional})
        self._commit(pending, meta)

    # -- documents, views and the store ---------------------------------------

    def _doc(self, record_id: str) -> RecordDoc | None:
        rec = self._cache.get(record_id)
        if rec is not None:
            self._cache.move_to_end(record_id)
            return rec
        state = self.store.state(record_id)
        if state is None:
            return None
        rec = RecordDoc.load(self.client_id, state)
        self._remember(record_id, rec)
        return rec

    def _live(self, module: str, record_id: str) -> RecordDoc:
        rec = self._doc(record_id)
        raw = self.store.view(record_id) if rec is not None else None
        if rec is None or raw is None or rec.module != module or _load_view(raw)["deleted"]:
            raise RecordNotFoundError(module, record_id)
        return rec

    def _remember(self, record_id: str, rec: RecordDoc) -> None:
        self._cache[record_id] = rec
        self._cache.move_to_end(record_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _evict(self, record_id: str) -> None:
        self._cache.pop(record_id, None)

    def _commit(
        self,
        records: Iterable[tuple[str, RecordContent | Arrival]],
        meta: Mapping[str, str] | None = None,
        *,
        report: bool = False,
        origins: Mapping[str, str] = {},
        states: Mapping[str, bytes] = {},
    ) -> None:
        """Store records (and metadata) in one transaction, then cache their documents.

        An :class:`Arrival` brings its row; a record without a document (a
        :class:`RecordSnapshot`) needs its state in ``states``.
        """
        records = list(records)
        rows = []
        latest = 0
        for record_id, rec in records:
            if isinstance(rec, Arrival):
                assert rec.row is not None, "only ready arrivals are stored"
                row, record_latest, module, ignored_writes = (
                    rec.row,
                    rec.latest,
                    rec.module,
                    rec.ignored,
                )
            else:
                state = states.get(record_id)
                if state is None:
                    assert isinstance(rec, RecordDoc), "a snapshot's state is the update it came in"
                    state = rec.encode()
                row, resolved = view_row(record_id, rec, state, origins.get(record_id))
                record_latest, module, ignored_writes = (
                    resolved.latest,
                    row.module,
                    ignored(resolved),
                )
            rows.append(row)
            latest = max(latest, record_latest)
            if report and ignored_writes:
                self._report_ignored(record_id, module, ignored_writes)
        self.clock.observe(latest)
        if not rows and not meta:
            return  # nothing changed: no durable commit (the clock is saved with the next)
        all_meta = {**(meta or {}), **self._take_checkpoints(), "hlc": str(self.clock.last)}
        try:
            self.store.save(rows, all_meta)
        except StoreError:
            for record_id, _ in records:
                self._evict(record_id)  # memory must never be ahead of the store
            raise
        for record_id, rec in records:
            if isinstance(rec, RecordDoc):
                self._remember(record_id, rec)
            else:
                self._evict(record_id)  # a stale document must not shadow the stored state
        if rows:
            for event in self._listeners:
                event.set()

    def _report_ignored(self, record_id: str, module: str, writes: Sequence[Ignored]) -> None:
        """Log and record the writes the matrix made the priority layer ignore, once each."""
        old = self.store.view(record_id)
        known = set(map(tuple, _load_view(old).get("rejected", []))) if old else set()
        for w in writes:
            if (w.device, w.field, w.t) not in known:
                reason = f"a {w.role} device may not {'delete' if w.field == DELETED else 'edit'}"
                reason += f" this {module} record (field {w.field!r})"
                log.warning("ignored write to %s by %s: %s", record_id, w.device, reason)
                self.store.reject(Rejection(w.t, record_id, module, w.device, reason))


def _pick_map(field: str, chosen: Write | None) -> dict[str, Write]:
    return {} if chosen is None else {field: chosen}


def _is_note(mod: Module, name: str) -> bool:
    return name in mod.notes


def _load_view(raw: bytes) -> dict[str, Any]:
    view: dict[str, Any] = orjson.loads(raw)
    return view


def _present(mod: Module, view: Mapping[str, Any]) -> dict[str, Any]:
    fields = view["fields"]
    out: dict[str, Any] = {"id": view["id"]}
    for name, field in mod.fields.items():
        out[name] = decode_value(field, fields.get(name))
    return out


def _time(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(to_millis(t) / 1000, tz=dt.UTC)
