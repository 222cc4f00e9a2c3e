"""``roamsync repair``: rebuild a damaged store from what can still be read.

>>> report = await repair_store(folder, device=config.device, role=config.role)  # doctest: +SKIP
>>> report.records, report.aside                                             # doctest: +SKIP
(9712, PosixPath('DIR/damaged-20261122-101500'))

1. The damaged files (the store, its ``-wal``, ``-shm`` and ``.id``) are moved,
   untouched, into ``DIR/damaged-<time>/``. Nothing is ever deleted.
2. Every record version still readable in them is found page by page
   (:mod:`roamsync.peer.store.salvage`), the versions of each record are merged (a
   CRDT merge, so an older version never undoes a newer one) and stored into
   a fresh store, as an initial sync from a peer would store them.
   Records are taken only from a store that was this device's (its ``device``
   metadata, if readable): another device's file put in its place is kept
   aside, not merged.
3. The fresh store has a new store id and no sync checkpoints: at the next
   sync the device sends its peers everything it has, and each peer, seeing
   the new id in the hello, sends it everything it has. What the damage took
   comes back from them.

The device writes with a new Yjs client id afterwards: the damaged store may
have lost its latest writes, and reusing the old id from an older clock would
clash with updates the peers already hold. Order and quote counters continue
from the highest number found, so main does not hand out a number twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from roamsync.peer.core.numbering import own_counter
from roamsync.peer.core.priority import resolve
from roamsync.peer.record import RecordDoc, Signer
from roamsync.peer.replica.peer import Peer
from roamsync.peer.store import STORE_FILE, Meta, SqliteStore
from roamsync.peer.store import meta as keys
from roamsync.peer.store.files import DirectoryLock
from roamsync.peer.store.salvage import Salvage, salvage_file
from roamsync.peer.store.sqlite import id_file
from roamsync.schema import MODULES, StoreDamagedError, StoreError, TlsError, UsageError
from roamsync.transport import tls

log = logging.getLogger(__name__)

BATCH = 500
MERGE_CLIENT = 2  # the Yjs client id of the throw-away documents versions are merged in


@dataclass(frozen=True)
class RepairReport:
    """What ``roamsync repair`` did."""

    aside: Path  # where the damaged files are kept
    pages: int  # page images read
    versions: int  # record versions found
    records: int  # records salvaged into the new store
    unreadable: int  # versions that did not decode
    modules: dict[str, int]  # records salvaged per module (deleted ones included)
    store_id: str  # the new store's id
    owner: str | None  # the device the damaged store said it belonged to, if readable
    device: str  # the device repaired


async def repair_store(
    folder: Path, *, device: str, role: str, label: str | None = None, force: bool = False
) -> RepairReport:
    """Move the store of ``folder`` aside and rebuild it from what can be read."""
    lock = DirectoryLock(folder)
    if not lock.acquire():
        raise StoreError(f"{folder} is in use by another roamsync process: stop it first")
    try:
        path = folder / STORE_FILE
        if not force:
            _check_damaged(path)
        aside = _move_aside(folder, path)
        found = salvage_file(aside / path.name)
        return await _rebuild(path, found, aside, device, role, label)
    finally:
        lock.release()


def _check_damaged(path: Path) -> None:
    """Refuse to rebuild a store that is not damaged (``force`` skips this)."""
    if not path.exists() and not id_file(path).exists():
        raise UsageError(f"there is no store to repair in {path.parent}")
    try:
        SqliteStore(path).close()
    except StoreDamagedError:
        return
    raise UsageError(
        f"the store {path} is not damaged; nothing to do. `roamsync repair --force` rebuilds "
        "it anyway (e.g. after its -wal file was lost) and re-syncs it from the peers."
    )


def _move_aside(folder: Path, path: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = folder / f"damaged-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = folder / f"damaged-{stamp}-{n}"
    aside.mkdir(mode=0o700)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", id_file(path).name):
        if (folder / name).exists():
            os.replace(folder / name, aside / name)
    log.info("moved the damaged store to %s", aside)
    return aside


async def _rebuild(
    path: Path, found: Salvage, aside: Path, device: str, role: str, label: str | None
) -> RepairReport:
    owners = set(found.meta.get(keys.DEVICE, []))
    if owners and device not in owners:  # another device's store was put here: not ours to merge
        log.warning(
            "the store in %s belonged to %s, not %s: salvaged nothing", aside, owners, device
        )
        found = Salvage(pages=found.pages)
    peer = Peer(SqliteStore(path), device, role, label=label, signer=_signer(path.parent))
    peer.merger.refuse_future = False  # the device's own records, taken before
    try:
        merged = _merge_versions(found, role, peer.label)
        peer.clock.observe(_max_int(found.meta.get(keys.HLC, [])))
        counters = [Meta.counter_entry(module, n) for module, n in merged.numbers.items()]
        peer.meta.save({k: v for entry in counters for k, v in entry.items()})
        items = list(merged.states.items())
        for start in range(0, len(items), BATCH):
            await peer.apply_remote(items[start : start + BATCH])
        return RepairReport(
            aside=aside,
            pages=found.pages,
            versions=sum(len(v) for v in found.records.values()),
            records=len(merged.states),
            unreadable=merged.unreadable,
            modules=dict(sorted(merged.modules.items())),
            store_id=peer.store_id,
            owner=min(owners) if owners else None,
            device=device,
        )
    finally:
        await peer.close()


def _signer(folder: Path) -> Signer | None:
    """The device's signer, if its data directory has a key (a company's device): main
    may number orders while it rebuilds."""
    try:
        return tls.signer(tls.load_identity(folder / "tls"))  # org.config.TLS_DIR
    except TlsError:
        return None


@dataclass
class _Merged:
    states: dict[str, bytes] = field(default_factory=dict)  # record id -> merged state
    modules: Counter[str] = field(default_factory=Counter)
    numbers: dict[str, int] = field(default_factory=dict)  # module -> highest number given
    unreadable: int = 0


def _merge_versions(found: Salvage, role: str, label: str) -> _Merged:
    """One state per record with every version found merged in (documents are made one
    at a time: 100k loaded at once would take half a gigabyte)."""
    counters = {k: v for k, v in found.meta.items() if k.startswith(keys.NUMBER)}
    merged = _Merged(numbers={k[len(keys.NUMBER) :]: _max_int(v) for k, v in counters.items()})
    for record_id, versions in found.records.items():
        rec = RecordDoc.load(MERGE_CLIENT)
        for state in versions:
            try:
                rec.apply(state)
            except ValueError:  # what pycrdt 0.14 raises on an undecodable update
                merged.unreadable += 1
        module = MODULES.get(str(rec.module))
        if module is None or not (0 < len(record_id) <= 64 and record_id.isascii()):
            continue
        merged.states[record_id] = rec.encode()
        merged.modules[module.name] += 1
        if module.numbered:
            _count_number(merged.numbers, module.name, rec, role, label)
    return merged


def _count_number(
    numbers: dict[str, int], module: str, rec: RecordDoc, role: str, label: str
) -> None:
    """Raise the counter of ``module`` to the record's number, if this device gave it:
    main's final numbers, another device's own provisional ones."""
    values = resolve(module, rec.creator, rec.writes()).values
    for number in (values.get("number"), values.get("provisional_number")):
        n = own_counter(number, role, label)
        if n is not None:
            numbers[module] = max(numbers.get(module, 0), n)


def _max_int(values: list[str]) -> int:
    return max((int(v) for v in values if v.isdigit()), default=0)
