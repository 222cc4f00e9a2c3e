"""A device's data directory: its configuration file, identity, store and logs.

Layout of ``DIR``::

    config.json       this file's Config (written atomically)
    tls/key.pem       the device key (mode 0600) and its self-signed certificate
    tls/cert.pem
    roamsync.sqlite3  the replica (roamsync.peer.store), with its -wal and -shm
    roamsync.sqlite3.id  the store's id: a store that vanished or was swapped is damage
    damaged-<time>/   a damaged store that roamsync repair moved aside (kept)
    daemon.json       address and token of the running daemon's local API (0600)
    roamsync.log      the daemon's log
    lock              held by the process that has the store open
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from roamsync.peer.store.files import write_atomically
from roamsync.schema import StoreError, UsageError

CONFIG = "config.json"
DAEMON = "daemon.json"
LOG = "roamsync.log"
TLS_DIR = "tls"
DEFAULT_PORT = 7420
DEVICE_ID_LENGTH = 16  # hex digits of the certificate fingerprint used as the device id


def device_id(fingerprint: str) -> str:
    """The device id: the first 64 bits of the certificate's SHA-256 fingerprint.

    The registry keeps the whole fingerprint, which TLS checks; the short form
    is what every write in every record carries, so it is kept small.
    """
    return fingerprint[:DEVICE_ID_LENGTH]


@dataclass
class Config:
    name: str
    role: str
    company_name: str
    company: str = ""  # the company id; set by init on main, by join elsewhere
    fingerprint: str = ""
    main_device: str = ""
    main_fingerprint: str = ""
    listen: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    peers: list[str] = field(default_factory=list)  # host:port to dial without discovery
    discovery: bool = True
    anti_entropy: float = 15.0
    trusted: list[str] = field(default_factory=list)  # bootstrap certificates (PEM)
    offline: bool = False  # checked out: no syncing, sync settings locked
    offline_since: str = ""
    offline_seq: int = 0  # the change feed's position at check-out
    checking_in: str = ""  # a check-in began with this policy and has not finished
    checking_in_changes: int = 0  # records this device changed while offline (its summary)
    sample: bool = False  # a sample company: never syncs

    @property
    def device(self) -> str:
        return device_id(self.fingerprint)

    @property
    def enrolled(self) -> bool:
        return bool(self.company)


def new_company_id() -> str:
    return uuid.uuid4().hex


def load_config(folder: Path) -> Config:
    path = folder / CONFIG
    try:
        raw: dict[str, Any] = orjson.loads(path.read_bytes())
        return Config(**raw)
    except FileNotFoundError:
        raise UsageError(f"{folder} is not a roamsync data directory (run roamsync init)") from None
    except (OSError, orjson.JSONDecodeError, TypeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc


def save_config(folder: Path, config: Config) -> None:
    data = orjson.dumps(dataclasses.asdict(config), option=orjson.OPT_INDENT_2)
    write_atomically(folder / CONFIG, data)
