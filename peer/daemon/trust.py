"""Who may sync with this node: TLS trust kept in step with the device registry.

Peers accept a TLS client or server certificate only if the registry has an
active entry for it; a session's hello must then name that certificate's
device and the role the registry gives it. When the registry changes, new
certificates are trusted at once and sessions with revoked devices close.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from roamsync.peer.org import registry
from roamsync.peer.org.config import Config
from roamsync.peer.replica import Peer
from roamsync.transport import tls
from roamsync.transport.protocol import Hello

log = logging.getLogger(__name__)

Authorize = Callable[[Hello], str | None]  # why to refuse a hello, or None


RUNNING_ALREADY = "a session with this device is running already"


class Trust:
    def __init__(self, peer: Peer, config: Config, identity: tls.Identity) -> None:
        self.peer = peer
        self.config = config
        self.identity = identity
        self._server: ssl.SSLContext | None = None
        self._client: ssl.SSLContext | None = None
        self._trusted: set[str] = set()

    @property
    def server_ssl(self) -> ssl.SSLContext:
        if self._server is None:
            self.refresh()
        assert self._server is not None
        return self._server

    @property
    def client_ssl(self) -> ssl.SSLContext:
        if self._client is None:
            self.refresh()
        assert self._client is not None
        return self._client

    def refresh(self) -> set[str]:
        """Trust every active device's certificate; the revoked devices."""
        entries = registry.devices(self.peer)
        certs = {e.cert for e in entries if e.active} | set(self.config.trusted)
        if self._server is None or self._client is None:
            self._server = tls.server_context(self.identity, certs)
            self._client = tls.client_context(self.identity, certs)
        else:
            for cert in certs - self._trusted:
                tls.trust(self._server, cert)
                tls.trust(self._client, cert)
        self._trusted |= certs
        return {e.device for e in entries if not e.active}

    def known(self, fingerprint: str | None) -> registry.DeviceEntry | None:
        """The enrolled device behind a certificate; main is known from the config
        too, since a device that just joined has not received the registry yet."""
        entry = registry.lookup(self.peer, fingerprint)
        if entry is None and fingerprint and fingerprint == self.config.main_fingerprint:
            revoked = {e.fingerprint for e in registry.devices(self.peer) if not e.active}
            if fingerprint not in revoked:
                main = self.config.main_device
                return registry.DeviceEntry(main, "main", "main", fingerprint, "", "active")
        return entry

    def authorizer(self, fingerprint: str | None, running: Callable[[str], bool]) -> Authorize:
        """The check of a hello that came over a connection with this certificate;
        ``running(device)``: whether a session with that device runs already."""

        def authorize(hello: Hello) -> str | None:
            entry = self.known(fingerprint)
            if entry is None:
                return "this device is not enrolled in the company (or was disconnected)"
            if hello.device != entry.device:
                return "the hello names another device than the certificate"
            if hello.role != entry.role:
                return f"the registry says {entry.device} is {entry.role}, not {hello.role}"
            if running(hello.device):
                return RUNNING_ALREADY
            return None

        return authorize
