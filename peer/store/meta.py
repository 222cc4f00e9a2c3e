"""The store's metadata table, with a named, typed accessor for every key roamsync keeps.

The table is a key/value bag; this module is the only place that knows its
keys. Twelve families:

=====================  ======================================================
``store_id``           this store's random id (a repaired store gets a new one)
``device``, ``role``,  the device the store belongs to, and its Yjs client id
``client_id``
``hlc``                the hybrid logical clock's last time
``number:<module>``    the last order or quote number this device gave
``checkpoint:<peer>``  how far in our change feed a peer has acknowledged
``store:<peer>``       the store id a peer's hello named when we last met
``invite:<id>``        an invitation main handed out (main only)
``synclog:<peer>``     the latest sync sessions with a peer
``history:<day>:<p>``  records up and down per day and peer
``indexed``            which search index and listing the records were indexed
                       into (an older store's are indexed once at open)
=====================  ======================================================

Reads go through :class:`Meta`. Writes that must be stored with records in the
same transaction are built as entries (``Meta.hlc_entry(t)``, ...) and given
to ``Store.save``; the others are saved at once by :class:`Meta`'s setters.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson

from roamsync.schema import StoreError

if TYPE_CHECKING:
    from roamsync.peer.store.base import Store

STORE_ID = "store_id"
DEVICE, ROLE, CLIENT_ID = "device", "role", "client_id"
HLC = "hlc"
NUMBER = "number:"
CHECKPOINT = "checkpoint:"
STORE_OF = "store:"
INVITE = "invite:"
SYNCLOG = "synclog:"
HISTORY = "history:"
INDEXED = "indexed"

Entries = dict[str, str]  # metadata to store with a commit


@dataclass(frozen=True)
class Owner:
    """The device a store belongs to."""

    device: str
    role: str
    client_id: int


@dataclass
class Invitation:
    """An enrolment invitation, as main keeps it (the secret only as a hash)."""

    hash: str
    role: str
    expires: float
    attempts: int = 0
    used: bool = False


@dataclass(frozen=True)
class DayCount:
    """Records sent (up) and received (down) on one day with one peer."""

    up: int = 0
    down: int = 0
    last: float = 0.0


class Meta:
    """Typed access to one store's metadata."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _int(self, key: str) -> int:
        return int(self.store.meta(key) or 0)

    def _json(self, key: str) -> Any:
        raw = self.store.meta(key)
        return None if raw is None else orjson.loads(raw)

    # -- identity ----------------------------------------------------------------

    def store_id(self) -> str:
        return self.store.meta(STORE_ID) or ""

    def owner(self) -> Owner | None:
        device = self.store.meta(DEVICE)
        if device is None:
            return None
        return Owner(device, self.store.meta(ROLE) or "", self._int(CLIENT_ID))

    def claim(self, device: str, role: str) -> int:
        """The Yjs client id of ``device`` in this store, which it must belong to: a new
        store is given to it (with its id and a new even client id: client_id + 1 is the
        device's notes lane); StoreError if the store is another device's."""
        if not self.store_id():  # the SQLite store makes its own at open
            self.save(Meta.store_id_entry(secrets.token_hex(8)))
        owner = self.owner()
        if owner is None:
            client_id = secrets.randbits(31) << 1
            self.set_owner(Owner(device, role, client_id))
            return client_id
        if (owner.device, owner.role) != (device, role):
            raise StoreError(
                f"this store belongs to device {owner.device!r} with role {owner.role!r}, "
                f"not {device!r} with role {role!r}"
            )
        return owner.client_id

    def set_owner(self, owner: Owner) -> None:
        self.store.save(
            [], {DEVICE: owner.device, ROLE: owner.role, CLIENT_ID: str(owner.client_id)}
        )

    @staticmethod
    def store_id_entry(store_id: str) -> Entries:
        return {STORE_ID: store_id}

    # -- clock and numbers -----------------------------------------------------------

    def hlc(self) -> int:
        return self._int(HLC)

    @staticmethod
    def hlc_entry(t: int) -> Entries:
        return {HLC: str(t)}

    def counter(self, module: str) -> int:
        """The last number this device gave in ``module`` (0: none yet)."""
        return self._int(NUMBER + module)

    @staticmethod
    def counter_entry(module: str, n: int) -> Entries:
        return {NUMBER + module: str(n)}

    @staticmethod
    def counter_in(entries: Entries, module: str) -> int | None:
        """The counter of ``module`` that ``entries`` are about to store, if any."""
        raw = entries.get(NUMBER + module)
        return None if raw is None else int(raw)

    def counters(self) -> dict[str, int]:
        """module -> the last number this device gave there."""
        return {k[len(NUMBER) :]: int(v) for k, v in self.store.meta_prefix(NUMBER).items()}

    # -- sync with each peer -----------------------------------------------------------

    def checkpoint(self, peer: str) -> int:
        return self._int(CHECKPOINT + peer)

    @staticmethod
    def checkpoint_entry(peer: str, seq: int) -> Entries:
        return {CHECKPOINT + peer: str(seq)}

    def store_of(self, peer: str) -> str | None:
        """The store id ``peer`` named when we last met (``None``: never met)."""
        return self.store.meta(STORE_OF + peer)

    @staticmethod
    def store_of_entry(peer: str, store_id: str) -> Entries:
        return {STORE_OF + peer: store_id}

    # -- invitations (main) ------------------------------------------------------------

    def invitation(self, invitation_id: str) -> Invitation | None:
        body = self._json(INVITE + invitation_id)
        return None if body is None else Invitation(**body)

    def save_invitation(self, invitation_id: str, invitation: Invitation) -> None:
        self.store.save([], {INVITE + invitation_id: orjson.dumps(asdict(invitation)).decode()})

    # -- the sync log and history --------------------------------------------------------

    def sync_log(self, peer: str) -> list[dict[str, Any]]:
        return list(self._json(SYNCLOG + peer) or [])

    def sync_logs(self) -> list[dict[str, Any]]:
        """The sessions logged with every peer."""
        return [
            row for raw in self.store.meta_prefix(SYNCLOG).values() for row in orjson.loads(raw)
        ]

    @staticmethod
    def sync_log_entry(peer: str, rows: list[dict[str, Any]]) -> Entries:
        return {SYNCLOG + peer: orjson.dumps(rows).decode()}

    def day_count(self, day: str, peer: str) -> DayCount:
        body = self._json(f"{HISTORY}{day}:{peer}")
        return DayCount() if body is None else DayCount(**body)

    def day_counts(self) -> dict[tuple[str, str], DayCount]:
        """(day, peer) -> what went up and down that day."""
        found = {}
        for key, raw in self.store.meta_prefix(HISTORY).items():
            _, day, peer = key.split(":", 2)
            found[day, peer] = DayCount(**orjson.loads(raw))
        return found

    @staticmethod
    def day_count_entry(day: str, peer: str, count: DayCount) -> Entries:
        return {f"{HISTORY}{day}:{peer}": orjson.dumps(asdict(count)).decode()}

    def forget_days(self, days: list[tuple[str, str]]) -> None:
        """Drop the history of these (day, peer) pairs."""
        if days:
            self.store.forget([f"{HISTORY}{day}:{peer}" for day, peer in days])

    def save(self, entries: Entries, *, durable: bool = True) -> None:
        """Store entries now, in one commit (``durable=False``: one a crash may lose)."""
        self.store.save([], entries, durable=durable)
