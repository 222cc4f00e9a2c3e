"""Web sessions, kept server-side in the store's metadata: revocable at once.

A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie; the store
keeps only the token's SHA-256, with the user's e-mail, the session's CSRF token and
when it was last used. A session unused for ``idle`` seconds (20 minutes by default)
is over; logging out, and locking or disabling the user, end it at once.
(aiohttp-session keeps sessions in cookies, Redis or Memcached; these must live in
the peer's own store, so that ending one is immediate and needs nothing else.)
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from roamsync.peer.replica import Peer

PREFIX = "web-session:"
IDLE = 20 * 60.0  # seconds without a request that end a session


@dataclass(frozen=True)
class WebSession:
    email: str
    csrf: str
    seen: float


class WebSessions:
    def __init__(
        self, peer: Peer, idle: float = IDLE, clock: Callable[[], float] = time.time
    ) -> None:
        self.peer = peer
        self.idle = idle
        self.clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return PREFIX + hashlib.sha256(token.encode()).hexdigest()

    def start(self, email: str) -> str:
        """A new session for ``email``: its token (for the cookie)."""
        token = secrets.token_urlsafe(32)
        self._save(token, WebSession(email, secrets.token_urlsafe(24), self.clock()))
        return token

    def _save(self, token: str, session: WebSession, durable: bool = True) -> None:
        body = {"email": session.email, "csrf": session.csrf, "seen": session.seen}
        self.peer.meta.save({self._key(token): orjson.dumps(body).decode()}, durable=durable)

    def get(self, token: str | None, touch: bool = True) -> WebSession | None:
        """The live session of a cookie's token, or None. ``touch``: note its use (a
        person's request; a live page refreshing itself is not one, so it idles out)."""
        if not token or len(token) > 100:
            return None
        raw = self.peer.store.meta(self._key(token))
        if raw is None:
            return None
        body = orjson.loads(raw)
        now = self.clock()
        if now - float(body["seen"]) > self.idle:
            self.end(token)
            return None
        if not touch:
            return WebSession(str(body["email"]), str(body["csrf"]), float(body["seen"]))
        session = WebSession(str(body["email"]), str(body["csrf"]), now)
        self._save(token, session, durable=False)  # a crash may forget a page view
        return session

    def end(self, token: str) -> None:
        self.peer.store.forget([self._key(token)])

    def end_user(self, email: str) -> int:
        """End every session of ``email`` (locked, disabled); how many."""
        ended = [
            key
            for key, raw in self.peer.store.meta_prefix(PREFIX).items()
            if orjson.loads(raw).get("email") == email
        ]
        self.peer.store.forget(ended)
        return len(ended)
