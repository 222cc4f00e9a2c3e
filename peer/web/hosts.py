"""The names the web pages answer to: a request whose ``Host`` is any other is refused.

DNS rebinding needs a name the attacker controls that resolves to this server, so
only names the user chose pass: the loopback names, the address the pages listen on,
names given with ``--web-host``, and the DNS names of a certificate the user supplied.
An IP literal names no site but the server at that address, so when the pages listen
on all addresses every IP literal passes (finding this machine's own addresses would
need a list that goes stale when the DHCP lease changes, for no gain).

>>> hosts = Hosts.serving("0.0.0.0", ["office.acme.lan"])
>>> hosts.allow("192.168.1.20:7480"), hosts.allow("OFFICE.acme.lan"), hosts.allow("evil.example")
(True, True, False)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
ALL_ADDRESSES = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Hosts:
    names: frozenset[str] = LOOPBACK_NAMES  # each as normal() spells it
    any_address: bool = False

    @classmethod
    def serving(cls, listen: str, names: Iterable[str] = ()) -> Hosts:
        """The names of pages listening on ``listen``, also reached as ``names``."""
        every = listen in ALL_ADDRESSES
        chosen = {normal(n) for n in (*names, *(() if every else (listen,)))}
        return cls(LOOPBACK_NAMES | chosen, any_address=every)

    def allow(self, host: str) -> bool:
        """Whether a ``Host`` header (name or address, with or without a port) passes."""
        if not host or any(c in host for c in "/?#@\\"):
            return False
        try:
            parts = urlsplit("//" + host)
            name, _ = parts.hostname, parts.port  # .port: a number or nothing
        except ValueError:  # "[::1", "127.0.0.1:x"
            return False
        if not name:
            return False
        name = normal(name)
        return name in self.names or (self.any_address and is_address(name))


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def normal(name: str) -> str:
    """One spelling per name: IP literals compressed and without brackets, names lowercase."""
    bare = name.strip("[]").lower()
    return str(ipaddress.ip_address(bare)) if is_address(bare) else bare
