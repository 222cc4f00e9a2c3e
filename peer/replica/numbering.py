"""Numbers of quotes and orders: this device's next one, and main's renumbering.

Main numbers quotes and orders ``1, 2, 3, ...``; other devices give provisional
numbers ``P-<device>-<n>`` (:mod:`roamsync.peer.core.numbering`). When main
stores provisional records, from a sync or after a crash, it gives each the
next final number, in creation-time order, so the outcome does not depend on
the order updates arrived in. The record keeps its provisional number.

A **restored** store (``roamsync restore``) holds the counters of its backup,
while numbers handed out since may be on other devices. So it keeps a *hold*:
the devices it must have synced with (caught up both ways) since the restore.
Until the hold is empty main gives no final number (its own new quotes and
orders get provisional ones, ``P-<main>-<n>``, numbered like any other at the
release); then every counter is raised to the highest number the store holds,
and numbering goes on. On another device the hold is main alone, and only
raises its provisional counters.
"""

from __future__ import annotations

import orjson

from roamsync.peer.core.numbering import number_for, own_counter
from roamsync.peer.replica.records import Records
from roamsync.peer.store import Meta
from roamsync.peer.store.meta import Entries
from roamsync.schema import MODULES, get_module

HOLD = "numbering_hold"  # meta: JSON list of the devices a restored store waits for
HELD = "~held"  # counter suffix of main's provisional numbers while it holds


class Numbering:
    def __init__(self, records: Records, meta: Meta, label: str) -> None:
        self.records = records
        self.meta = meta
        self.label = label  # in provisional numbers: P-<label>-<n>

    def next_number(self, module: str, entries: Entries) -> str:
        """This device's next number in ``module``; its counter goes into ``entries``,
        to be stored with the record that takes the number."""
        role = self.records.role
        counter = module
        if role == "main" and self.held():  # no final number until the hold is released
            role, counter = "office", module + HELD
        pending = Meta.counter_in(entries, counter)
        n = (self.meta.counter(counter) if pending is None else pending) + 1
        entries |= Meta.counter_entry(counter, n)
        return number_for(role, self.label, n)

    def held(self) -> list[str]:
        """The devices a restored store still waits for (none: numbering as usual)."""
        raw = self.records.store.meta(HOLD)
        held = orjson.loads(raw) if raw else []
        return [str(d) for d in held] if isinstance(held, list) else []

    def hold(self, devices: list[str]) -> None:
        self.meta.save({HOLD: orjson.dumps(sorted(devices)).decode()})

    def synced_with(self, device: str) -> bool:
        """A sync with ``device`` caught up: off the hold; at the last one, the counters
        are raised to the highest numbers stored and main numbers what waits. Whether
        the hold was released now."""
        held = self.held()
        if device not in held:
            return False
        rest = [d for d in held if d != device]
        if rest:
            self.hold(rest)
            return False
        self.recount()
        self.records.store.forget([HOLD])
        if self.records.role == "main":
            self.assign()
        return True

    def recount(self) -> None:
        """Raise this device's counters to the highest numbers it gave that the store
        holds (main: every final number; another device: its own provisional ones)."""
        role = self.records.role
        entries: Entries = {}
        for name, module in MODULES.items():
            if not module.numbered:
                continue
            mine = [own_counter(n, role, self.label) for n in self.records.store.numbers(name)]
            highest = max((n for n in mine if n is not None), default=0)
            if highest > self.meta.counter(name):
                entries |= Meta.counter_entry(name, highest)
        if entries:
            self.meta.save(entries)

    def assign(self) -> None:
        """Main gives each provisional quote and order the next final number.

        Order: creation time, then record id."""
        if self.held():
            return  # a restored main waits until it has met every device (see above)
        store = self.records.store
        pending = [(rid, rec) for rid in store.unnumbered() if (rec := self.records.doc(rid))]
        if not pending:
            return
        pending.sort(key=lambda item: (item[1].created_t, item[0]))
        entries: Entries = {}
        for record_id, rec in pending:
            module = get_module(str(rec.module))
            provisional = rec.resolved().values.get("number")
            n = self.next_number(module.name, entries)
            t = self.records.clock.now()
            self.records.write(
                record_id, rec, module, t, {"number": n, "provisional_number": provisional}
            )
        self.records.commit(pending, entries)
