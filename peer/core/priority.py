"""The priority layer: pure functions from a record's writes to its resolved view.

Every write to a field is kept as a :class:`Write` carrying the writer's
version vector of the record (``seen``: device -> latest write time of that
device the writer had when writing). A write *supersedes* another when it had
seen it (and is not dated more than a day before it: see :func:`supersedes`).
A field's *heads* are its writes that nothing supersedes; two or more heads
are a **conflict**, resolved the same way on every replica:

1. a head written by the ``main`` device wins;
2. otherwise the later hybrid-logical-clock time wins;
3. ties go to the greater device id.

Losing values are never dropped: an open conflict lists all heads, and a
write that closes a conflict (any later write that had seen the heads)
carries the closed :class:`Episode` for seven days (``RETENTION``) so every
replica shows the same conflict log.

A delete is a write of the ``_deleted`` field. A delete wins over edits made
concurrently with it; those edits stay in the record (a restore brings them
back) and show in the log as an episode with policy ``"delete"``.

Writes a travel device was not allowed to make are filtered out here, by the
same rule on every replica, and reported in :attr:`Resolved.rejected`.

Nothing in this module does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from roamsync.peer.core.clock import AHEAD
from roamsync.schema import MODULES, JsonValue, UsageError, allowed
from roamsync.schema.permissions import Operation

DELETED = "_deleted"
DAY = 86_400_000 << 16  # one day in hybrid-logical-clock units (ms << 16)
RETENTION = 7 * DAY
Policy = Literal["central", "local", "latest", "manual", "delete"]
POLICIES: tuple[str, ...] = ("central", "local", "latest", "manual")


@dataclass(frozen=True)
class Write:
    """One device's latest write to one field of a record."""

    field: str
    device: str
    role: str
    t: int
    value: JsonValue
    seen: Mapping[str, int] = dataclasses.field(default_factory=dict)
    policy: str | None = None  # set when the write resolved a conflict by a policy
    closed: tuple[Episode, ...] = ()  # episodes this device's writes closed, kept 7 days
    user: str | None = None  # the person who wrote it through the device's web pages

    @property
    def version(self) -> Version:
        return Version(self.device, self.role, self.t, self.value)


@dataclass(frozen=True, order=True)
class Version:
    """A competing value in a conflict, with its writer and time."""

    device: str
    role: str
    t: int
    value: JsonValue


@dataclass(frozen=True)
class Episode:
    """One conflict: concurrent versions of a field and how it was handled."""

    field: str
    versions: tuple[Version, ...]
    winner: Version
    policy: str
    time: int
    open: bool = False
    resolved_by: str | None = None

    @property
    def key(self) -> tuple[str, tuple[tuple[str, int], ...]]:
        return self.field, tuple((v.device, v.t) for v in self.versions)


class Resolved(NamedTuple):
    """The resolved view of one record (a named tuple: cheap to make, 100k in a sync)."""

    values: dict[str, JsonValue]
    deleted: bool
    conflicts: list[Episode]
    rejected: list[Write]
    latest: int  # the time of the newest write, winning or not (0 if none)


def supersedes(a: Write, b: Write) -> bool:
    """Whether ``a`` was written by a device that had seen ``b``.

    A write cannot have seen one dated more than :data:`AHEAD` (a day) after it:
    honest clocks observe what they merge, so that would be a forged version
    vector claiming writes from the future. It supersedes nothing it claims that
    way (the same on every replica: both times are in the writes)."""
    if a.device == b.device:
        return a.t > b.t
    return a.seen.get(b.device, -1) >= b.t and b.t <= a.t + AHEAD


def heads(writes: Iterable[Write]) -> list[Write]:
    """The writes no other write supersedes, sorted by (device, t).

    Honest writes cannot supersede each other both ways, but a forged version vector
    can claim to have seen a later write; then the later of the two (by time, then
    device) is the one that supersedes, and a set of writes that all supersede one
    another keeps its latest as head: never none."""
    ws = list(writes)
    if len(ws) <= 1:  # the common case: one writer so far
        return ws
    found = sorted(
        (w for w in ws if not any(_over(o, w) for o in ws if o is not w)),
        key=lambda w: (w.device, w.t),
    )
    return found or [max(ws, key=lambda w: (w.t, w.device))]


def _over(a: Write, b: Write) -> bool:
    """:func:`supersedes`, with a write pair that claims it both ways settled by time."""
    if not supersedes(a, b):
        return False
    return not supersedes(b, a) or (a.t, a.device) > (b.t, b.device)


def priority(w: Write) -> tuple[bool, int, str]:
    """Sort key of the default rule: main first, then later time, then device id."""
    return (w.role == "main", w.t, w.device)


def default_winner(candidates: Sequence[Write]) -> Write:
    return max(candidates, key=priority)


def pick(candidates: Sequence[Write], policy: str, local_device: str) -> Write | None:
    """The head a device's conflict policy keeps; ``None`` for manual (pending)."""
    if policy == "central":
        return default_winner(candidates)
    if policy == "local":
        own = [w for w in candidates if w.device == local_device]
        return own[0] if own else default_winner(candidates)
    if policy == "latest":
        return max(candidates, key=lambda w: (w.t, w.device))
    if policy == "manual":
        return None
    raise UsageError(f"unknown conflict policy {policy!r}; use one of {POLICIES}")


def is_allowed(module: str, creator: str, w: Write) -> bool:
    """Whether the permission matrix allowed the writer to make this write."""
    own = w.device == creator
    op: Operation = "delete" if w.field == DELETED else "edit"
    return allowed(w.role, module, op, own=own)


def _in_order(versions: Iterable[Version]) -> tuple[Version, ...]:
    """Versions in one order on every replica, without comparing values of different types."""
    return tuple(sorted(versions, key=lambda v: (v.device, v.role, v.t, repr(v.value))))


def open_episode(field_name: str, hs: Sequence[Write]) -> Episode | None:
    if len(hs) < 2:
        return None
    return Episode(
        field=field_name,
        versions=_in_order(w.version for w in hs),
        winner=default_winner(hs).version,
        policy="central",
        time=max(w.t for w in hs),
        open=True,
    )


def close_episode(episode: Episode, closer: Write, chosen: Write | None) -> Episode:
    """The episode as recorded by the write that closes it."""
    if chosen is not None:
        winner = chosen.version
    else:  # a plain edit keeps the default winner on record; a resolution by value, itself
        winner = closer.version if closer.policy else episode.winner
    return Episode(
        field=episode.field,
        versions=episode.versions,
        winner=winner,
        policy=closer.policy or "central",
        time=closer.t,
        resolved_by=closer.device,
    )


def resolve(module: str, creator: str, writes: Iterable[Write]) -> Resolved:
    """Resolve a record: the value of every field, conflicts and rejected writes."""
    by_field: dict[str, list[Write]] = {}
    rejected: list[Write] = []
    latest = 0
    for w in writes:
        if w.t > latest:
            latest = w.t
        if is_allowed(module, creator, w):
            by_field.setdefault(w.field, []).append(w)
        else:
            rejected.append(w)
    for name in _system_fields(module) & by_field.keys():
        ws = by_field[name]
        mains = [w for w in ws if w.role == "main"]
        # Once main set it, only main sets it: another device's write that main's had
        # not seen (a renumbering) is ignored and reported.
        late = [w for w in ws if w.role != "main" and not any(supersedes(m, w) for m in mains)]
        if mains and late:
            by_field[name] = [w for w in ws if w not in late]
            rejected += late
    values: dict[str, JsonValue] = {}
    winners: dict[str, Write] = {}
    episodes: dict[tuple[str, tuple[tuple[str, int], ...]], Episode] = {}
    for name, ws in by_field.items():
        hs = heads(ws)
        winner = default_winner(hs)
        values[name], winners[name] = winner.value, winner
        for ep in _closed_episodes(ws):
            _keep_latest(episodes, ep)
        ep_open = open_episode(name, hs)
        if ep_open is not None:
            episodes[ep_open.key] = ep_open
    deleted = values.pop(DELETED, False) is True
    if deleted:
        for ep in _delete_episodes(winners[DELETED], by_field):
            episodes[ep.key] = ep
    conflicts = sorted(episodes.values(), key=lambda e: (e.time, e.field))
    return Resolved(values, deleted, conflicts, rejected, latest)


def resolve_one_writer(
    module: str, creator: str, device: str, role: str, values: dict[str, JsonValue], latest: int
) -> Resolved | None:
    """:func:`resolve` for a record only ``device`` wrote, given as field -> value and
    the time of its latest write, with no closed episodes; ``None`` if it is deleted
    or has a write the matrix forbids. ``values`` becomes the result's (do not reuse it).

    One writer means one write per field and no conflict: each write is its field's
    only head. It is the bulk of an initial sync, and this skips making the writes.
    """
    own = device == creator
    if DELETED in values and (
        values.pop(DELETED) is True or not allowed(role, module, "delete", own=own)
    ):
        return None
    if values and not allowed(role, module, "edit", own=own):
        return None
    return Resolved(values, False, [], [], latest)


def _system_fields(module: str) -> frozenset[str]:
    """The fields only roamsync sets (order numbers): a device's own provisional number
    counts until main numbers the record, then only main's writes do."""
    found = MODULES.get(module)
    return found.system_fields if found is not None else frozenset()


def _closed_episodes(ws: Iterable[Write]) -> Iterable[Episode]:
    for w in ws:
        yield from w.closed


def _keep_latest(
    episodes: dict[tuple[str, tuple[tuple[str, int], ...]], Episode], ep: Episode
) -> None:
    """Two devices may close the same conflict concurrently: keep one, the same everywhere."""
    old = episodes.get(ep.key)
    if old is None or (ep.time, ep.resolved_by or "") > (old.time, old.resolved_by or ""):
        episodes[ep.key] = ep


def _delete_episodes(delete: Write, by_field: Mapping[str, list[Write]]) -> Iterable[Episode]:
    """Per field, the edits the deleting device had not seen: they lose to the delete."""
    for name, ws in by_field.items():
        lost = [
            w
            for w in ws
            if name != DELETED and not supersedes(delete, w) and not supersedes(w, delete)
        ]
        if not lost:
            continue
        versions = _in_order([delete.version, *(w.version for w in lost)])
        yield Episode(
            field=name,
            versions=versions,
            winner=delete.version,
            policy="delete",
            time=max(v.t for v in versions),
            open=True,
        )


def retained(episodes: Iterable[Episode], now: int) -> list[Episode]:
    """Closed episodes younger than seven days, and every open one."""
    return [e for e in episodes if e.open or e.time >= now - RETENTION]
