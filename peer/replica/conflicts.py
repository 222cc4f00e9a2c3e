"""The conflict log and the policies that settle a device's conflicts.

Conflicts are found and logged by the priority layer
(:mod:`roamsync.peer.core.priority`) whenever a record is resolved; here they
are presented, settled by a policy (``central``, ``local``, ``latest``) or by
hand (``manual``: :meth:`ConflictLog.resolve`). A settling is an ordinary write
that had seen both values, so it reaches every replica like any edit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from roamsync.peer.core.clock import to_millis
from roamsync.peer.core.priority import (
    POLICIES,
    Episode,
    Version,
    Write,
    heads,
    is_allowed,
    pick,
    retained,
)
from roamsync.peer.record import RecordDoc, decode_episode
from roamsync.peer.replica.records import Records
from roamsync.schema import (
    ConflictNotFoundError,
    UsageError,
    check,
    get_module,
    validate_fields,
)
from roamsync.schema.permissions import may_write_record


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


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise UsageError(f"policy must be one of {POLICIES}, not {policy!r}")
    return policy


class ConflictLog:
    def __init__(self, records: Records, policy: str = "central") -> None:
        self.records = records
        self.policy = check_policy(policy)

    def conflicts(self) -> list[Conflict]:
        """Open conflicts and those closed in the last seven days."""
        now = self.records.clock.now()
        out = []
        for record, module, raw in self.records.store.conflicts():
            for ep in retained([decode_episode(orjson.loads(raw))], now):
                out.append(self._present(record, module, ep))
        return out

    def _present(self, record: str, module: str, ep: Episode) -> Conflict:
        mine = any(v.device == self.records.device for v in ep.versions)
        status = "resolved" if not ep.open else "open"
        if ep.open and mine and self.policy == "manual" and ep.policy != "delete":
            status = "pending"
        return Conflict(
            record=record,
            module=module,
            field=ep.field,
            values=[_version(v) for v in ep.versions],
            winner=_version(ep.winner),
            policy=ep.policy,
            status=status,
            time=_time(ep.time),
            resolved_by=ep.resolved_by,
        )

    def resolve(
        self, module: str, record_id: str, field: str, *, pick: int | None, value: object
    ) -> None:
        """Settle an open conflict by hand: keep competing value number ``pick``
        (0-based, in the order :meth:`conflicts` lists them) or write ``value``."""
        records = self.records
        mod = get_module(module)
        rec = records.live(module, record_id)
        candidates = self._open_heads(rec, field)
        if len(candidates) < 2:
            raise ConflictNotFoundError(f"no open conflict on {module} {record_id} {field!r}")
        check(records.role, module, "edit", own=rec.creator == records.device)
        if pick is not None:
            ordered: Sequence[Write] = sorted(candidates, key=lambda w: w.version)
            if not 0 <= pick < len(ordered):
                raise ConflictNotFoundError(f"pick must be 0..{len(ordered) - 1}, not {pick}")
            chosen: Write | None = ordered[pick]
            stored = ordered[pick].value
        else:
            chosen = None
            stored = validate_fields(module, {field: value}, creating=False)[field]
        t = records.clock.now()
        records.write(
            record_id, rec, mod, t, {field: stored}, policy="manual", chosen=_picked(field, chosen)
        )
        records.commit([(record_id, rec)])

    def apply_policy(self, policy: str) -> int:
        """Settle this device's open conflicts by ``policy``; how many. ``manual`` leaves
        them pending for :meth:`resolve`."""
        self.policy = check_policy(policy)
        if policy == "manual":
            return 0
        records = self.records
        todo = []
        for record, module, raw in records.store.conflicts():
            ep = decode_episode(orjson.loads(raw))
            mine = any(v.device == records.device for v in ep.versions)
            if ep.open and mine and ep.policy != "delete":
                todo.append((ep.time, record, ep.field, module))
        todo.sort()  # settle in a fixed order: episode time, record, field
        done: dict[str, RecordDoc] = {}
        settled = 0
        for _, record, field, module in todo:
            rec = records.doc(record)
            if rec is None or not self._may_settle(record, rec):
                continue
            candidates = self._open_heads(rec, field)
            chosen = pick(candidates, policy, records.device) if len(candidates) > 1 else None
            if chosen is None:
                continue
            t = records.clock.now()
            resolution = {"policy": policy, "chosen": _picked(field, chosen)}
            records.write(record, rec, get_module(module), t, {field: chosen.value}, **resolution)
            done[record] = rec
            settled += 1
        records.commit(done.items())
        return settled

    def _may_settle(self, record_id: str, rec: RecordDoc) -> bool:
        """Conflicts on a deleted record, or one this device may not write, are left alone."""
        view = self.records.view(record_id)
        if view is None or view["deleted"]:
            return False
        own = rec.creator == self.records.device
        return may_write_record(self.records.role, str(rec.module), own=own)

    def _open_heads(self, rec: RecordDoc, field: str) -> Sequence[Write]:
        module = str(rec.module)
        return heads(
            w for w in rec.writes() if w.field == field and is_allowed(module, rec.creator, w)
        )


def _picked(field: str, chosen: Write | None) -> dict[str, Write]:
    return {} if chosen is None else {field: chosen}


def _version(v: Version) -> dict[str, Any]:
    return {"value": v.value, "device": v.device, "role": v.role, "time": _time(v.t)}


def _time(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(to_millis(t) / 1000, tz=dt.UTC)
