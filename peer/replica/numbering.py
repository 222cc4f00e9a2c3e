"""Numbers of quotes and orders: this device's next one, and main's renumbering.

Main numbers quotes and orders ``1, 2, 3, ...``; other devices give provisional
numbers ``P-<device>-<n>`` (:mod:`roamsync.peer.core.numbering`). When main
stores provisional records, from a sync or after a crash, it gives each the
next final number, in creation-time order, so the outcome does not depend on
the order updates arrived in. The record keeps its provisional number.
"""

from __future__ import annotations

from roamsync.peer.core.numbering import number_for
from roamsync.peer.replica.records import Records
from roamsync.peer.store import Meta
from roamsync.peer.store.meta import Entries
from roamsync.schema import get_module


class Numbering:
    def __init__(self, records: Records, meta: Meta, label: str) -> None:
        self.records = records
        self.meta = meta
        self.label = label  # in provisional numbers: P-<label>-<n>

    def next_number(self, module: str, entries: Entries) -> str:
        """This device's next number in ``module``; its counter goes into ``entries``,
        to be stored with the record that takes the number."""
        pending = Meta.counter_in(entries, module)
        n = (self.meta.counter(module) if pending is None else pending) + 1
        entries |= Meta.counter_entry(module, n)
        return number_for(self.records.role, self.label, n)

    def assign(self) -> None:
        """Main gives each provisional quote and order the next final number.

        Order: creation time, then record id."""
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
