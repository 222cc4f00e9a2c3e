"""A small reference model of roamsync's semantics, written without the implementation.

It keeps every write ever made (no slots, no vectors, no CRDT) and, per
device, the set of writes that device knows. A write remembers exactly which
writes of its record its author knew. From that:

* a write supersedes another iff its author knew it;
* a field's heads are the known writes nothing known supersedes;
* the winner among heads: main's, else the later write, else the greater device;
* a record is deleted iff the winner of ``_deleted`` is ``True``;
* when main learns of live orders with provisional numbers it numbers them,
  oldest creation first, from its one sequence.

Time is a global counter: the tests run every peer on one fake clock that
moves forward at every reading, so "later" means "made later" here too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from roamsync.schema import allowed
from roamsync.schema.permissions import Operation, may_write_record

DELETED = "_deleted"
WriteId = tuple[int, str]  # (time, field)


@dataclass(frozen=True)
class MWrite:
    t: int
    record: str
    field: str
    device: str
    role: str
    value: object
    knew: frozenset[WriteId]

    @property
    def id(self) -> WriteId:
        return (self.t, self.field)


@dataclass
class Model:
    roles: dict[str, str]
    writes: dict[WriteId, MWrite] = field(default_factory=dict)
    know: dict[str, set[WriteId]] = field(default_factory=dict)
    records: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # module, creator, t
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    time: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for device in self.roles:
            self.know.setdefault(device, set())

    # -- what a device sees ------------------------------------------------------

    def known(self, device: str, record: str) -> list[MWrite]:
        return [w for w in map(self.writes.__getitem__, self.know[device]) if w.record == record]

    def heads(self, ws: Iterable[MWrite]) -> list[MWrite]:
        ws = list(ws)
        return [w for w in ws if not any(w.id in o.knew for o in ws)]

    def winner(self, heads: list[MWrite]) -> MWrite:
        return max(heads, key=lambda w: (w.role == "main", w.t, w.device))

    def view(self, device: str, record: str) -> dict[str, object] | None:
        """The record's resolved fields as ``device`` sees them; None if unknown or deleted."""
        ws = self.known(device, record)
        if not ws:
            return None
        by_field: dict[str, list[MWrite]] = {}
        for w in ws:
            by_field.setdefault(w.field, []).append(w)
        values = {f: self.winner(self.heads(fw)).value for f, fw in by_field.items()}
        if values.pop(DELETED, False) is True:
            return None
        return values

    def may(self, device: str, record: str, op: Operation) -> bool:
        module, creator, _ = self.records[record]
        return allowed(self.roles[device], module, op, own=creator == device)

    # -- changes -------------------------------------------------------------------

    def write(self, device: str, record: str, values: dict[str, object]) -> int:
        t = next(self.time)
        knew = frozenset(w.id for w in self.known(device, record))
        for name, value in values.items():
            w = MWrite(t, record, name, device, self.roles[device], value, knew)
            self.writes[w.id] = w
            self.know[device].add(w.id)
        return t

    def next_number(self, device: str, module: str) -> str:
        n = self.counters[(device, module)] = self.counters.get((device, module), 0) + 1
        return str(n) if self.roles[device] == "main" else f"P-{device}-{n}"

    def create(self, device: str, record: str, module: str, values: dict[str, object]) -> None:
        if module in ("orders", "quotes"):
            values = {**values, "number": self.next_number(device, module)}
        t = self.write(device, record, values)
        self.records[record] = (module, device, t)

    def sync(self, a: str, b: str) -> None:
        union = self.know[a] | self.know[b]
        self.know[a], self.know[b] = set(union), set(union)
        main = next((d for d in (a, b) if self.roles[d] == "main"), None)
        if main is not None:
            self.number(main)
            union = self.know[a] | self.know[b]
            self.know[a], self.know[b] = set(union), set(union)

    def number(self, main: str) -> None:
        pending = []
        for record, (module, _, created) in self.records.items():
            view = self.view(main, record)
            if view is not None and str(view.get("number", "")).startswith("P-"):
                pending.append((created, record, module, view["number"]))
        for _, record, module, provisional in sorted(pending):
            final = self.next_number(main, module)
            self.write(main, record, {"number": final, "provisional_number": provisional})

    def settle(self, device: str, policy: str) -> None:
        """A device applies a conflict policy to its open conflicts."""
        todo = []
        for record, (module, creator, _) in self.records.items():
            if self.view(device, record) is None:
                continue
            if not may_write_record(self.roles[device], module, own=creator == device):
                continue
            by_field: dict[str, list[MWrite]] = {}
            for w in self.known(device, record):
                by_field.setdefault(w.field, []).append(w)
            for name, ws in by_field.items():
                hs = self.heads(ws)
                if len(hs) > 1 and any(h.device == device for h in hs):
                    todo.append((max(h.t for h in hs), record, name, hs))
        for _, record, name, hs in sorted(todo, key=lambda item: item[:3]):
            chosen = self.pick(hs, policy, device)
            self.write(device, record, {name: chosen.value})

    def pick(self, hs: list[MWrite], policy: str, device: str) -> MWrite:
        if policy == "local":
            return next(h for h in hs if h.device == device)
        if policy == "latest":
            return max(hs, key=lambda w: (w.t, w.device))
        return self.winner(hs)
