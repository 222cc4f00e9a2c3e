"""Web users: accounts separate from devices, in the replicated system module ``users``.

Main writes (and signs) every user record, so every peer that serves the web pages
knows the same accounts:

* ``invite`` (main): a user by e-mail (the login name, lower-cased, never changed),
  with a role (``admin``, ``office``, ``read-only``) and a name. It returns a
  single-use acceptance code that expires (24 h by default); only its hash is
  kept, in main's metadata (not replicated: the code is accepted on main).
* ``accept`` (main): the code and a password (at least 10 characters) make the
  account active; the password is kept as an Argon2id hash (argon2-cffi) and
  never logged. The hash replicates with the record, so any peer checks logins.
* ``authenticate`` (any peer): e-mail and password; five failures in a row lock
  the account (on main, for every peer; elsewhere on that peer until main
  unlocks it); a locked or disabled account never logs in.
* ``set_status`` (main): lock, unlock (the failures start over), disable.

Threat model: a stolen device holds every user's Argon2id hash (64 MiB, 3 passes):
slow to crack, not impossible for a weak password; hence the minimum length.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roamsync.peer.replica import Peer
from roamsync.schema import (
    InvitationError,
    PermissionDeniedError,
    RecordNotFoundError,
    UsageError,
)

ROLES = ("admin", "office", "read-only")
STATUSES = ("invited", "active", "locked", "disabled")
MIN_PASSWORD = 10
MAX_FAILURES = 5  # failed logins in a row that lock an account
INVITE_TTL = 24 * 3600.0
MAX_INVITE_TTL = 30 * 24 * 3600.0
INVITE = "user-invite:"  # main's meta: email -> {hash, expires}
FAILURES = "user-failures:"  # each peer's meta: email -> failed logins in a row
LOCKED_HERE = "user-locked:"  # a peer that is not main: email -> the record it locked
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
HASHER = PasswordHasher()  # Argon2id, the library's defaults (RFC 9106 low-memory)


@dataclass(frozen=True)
class User:
    email: str
    name: str
    role: str
    status: str
    accepted: bool  # a password was set


def user_id(email: str) -> str:
    return "user-" + hashlib.sha256(email.encode()).hexdigest()[:20]


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.fullmatch(email) or len(email) > 254:
        raise UsageError(f"{email!r} is not an e-mail address")
    return email


def _main_only(peer: Peer, what: str) -> None:
    if peer.role != "main":
        raise PermissionDeniedError(f"only the main device can {what}")


def _record(peer: Peer, email: str) -> dict[str, object] | None:
    rid = user_id(email)
    return None if peer.store.view(rid) is None else peer.get("users", rid)


def users(peer: Peer) -> list[User]:
    return sorted(
        (
            User(
                str(r["email"]),
                str(r["name"] or ""),
                str(r["role"]),
                str(r["status"]),
                bool(r["password"]),
            )
            for r in peer.list("users")
        ),
        key=lambda u: u.email,
    )


async def invite(peer: Peer, email: str, role: str, name: str = "", ttl: float = INVITE_TTL) -> str:
    """Invite (or invite again) a user; the acceptance code (only its hash is kept)."""
    _main_only(peer, "invite users")
    email = normal_email(email)
    if role not in ROLES:
        raise UsageError(f"a user's role is one of {', '.join(ROLES)}, not {role!r}")
    if not (isinstance(ttl, int | float) and 0 < ttl <= MAX_INVITE_TTL):
        raise UsageError(f"an invitation is valid for 0 to {MAX_INVITE_TTL:.0f} seconds")
    fields = {"email": email, "name": name.strip() or None, "role": role}
    fields |= {"status": "invited", "password": None}
    rid = user_id(email)
    if peer.store.view(rid) is None:
        await peer.create("users", fields, record_id=rid)
    else:
        await peer.update("users", rid, fields)
    secret = secrets.token_urlsafe(18)
    entry = {"hash": _digest(secret), "expires": time.time() + ttl}
    peer.meta.save({INVITE + email: orjson.dumps(entry).decode(), FAILURES + email: "0"})
    return f"{rid.removeprefix('user-')}.{secret}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def accept(peer: Peer, code: str, password: str, now: float | None = None) -> User:
    """Set the password of an invited user with the code ``invite`` gave (main only)."""
    _main_only(peer, "accept invitations")
    rid, _, secret = code.strip().partition(".")
    record = peer.get("users", "user-" + rid) if peer.store.view("user-" + rid) else None
    if record is None or not secret:
        raise InvitationError("that is not a valid invitation code")
    email = str(record["email"])
    raw = peer.store.meta(INVITE + email)
    entry = orjson.loads(raw) if raw else None
    if not entry or not hmac.compare_digest(entry["hash"], _digest(secret)):
        raise InvitationError("that is not a valid invitation code (used already?)")
    if (now or time.time()) > entry["expires"]:
        raise InvitationError("the invitation has expired: ask an administrator for a new one")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password has at least {MIN_PASSWORD} characters")
    hashed = await _hash(password)
    await peer.update("users", "user-" + rid, {"status": "active", "password": hashed})
    peer.store.forget([INVITE + email])
    return _user(peer, email)


def _user(peer: Peer, email: str) -> User:
    record = _record(peer, email)
    if record is None:
        raise RecordNotFoundError("users", email)
    return User(
        email,
        str(record["name"] or ""),
        str(record["role"]),
        str(record["status"]),
        bool(record["password"]),
    )


def may_log_in(peer: Peer, email: str) -> bool:
    """Whether the account is active here (not locked, disabled or locked on this peer)."""
    record = _record(peer, email)
    locked_here = peer.store.meta(LOCKED_HERE + email) == _mark(peer, email)
    return record is not None and record["status"] == "active" and not locked_here


async def authenticate(peer: Peer, email: str, password: str) -> User | None:
    """The user, if ``password`` is theirs and the account may log in; else None (and a
    failure counted: the fifth in a row locks the account)."""
    try:
        email = normal_email(email)
    except UsageError:
        return None
    record = _record(peer, email)
    stored = str(record.get("password") or "") if record else ""
    locked_here = peer.store.meta(LOCKED_HERE + email) == _mark(peer, email)
    if record is None or record["status"] != "active" or locked_here or not stored:
        await _hash(password)  # the same time as a wrong password: no account oracle
        return None
    if not await _verify(stored, password):
        await _failed(peer, email)
        return None
    if not may_log_in(peer, email):
        return None  # locked or disabled while the password was checked
    peer.meta.save({FAILURES + email: "0"})
    return _user(peer, email)


# Argon2id costs a quarter of a second of CPU by design: it runs beside the event loop
# (sync and every page go on meanwhile), two at a time at most, so a flood of logins
# queues up here instead of stalling the daemon.
HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="roamsync-argon2")


async def _hash(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(HASHING, HASHER.hash, password)


async def _verify(stored: str, password: str) -> bool:
    def check() -> bool:
        try:
            return HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(HASHING, check)


async def _failed(peer: Peer, email: str) -> None:
    failures = int(peer.store.meta(FAILURES + email) or 0) + 1
    peer.meta.save({FAILURES + email: str(failures)})
    if failures >= MAX_FAILURES:
        if peer.role == "main":
            await peer.update("users", user_id(email), {"status": "locked"})
        else:  # until main changes the account (an unlock): its record then changes
            peer.meta.save({LOCKED_HERE + email: _mark(peer, email)})


def _mark(peer: Peer, email: str) -> str:
    """What the user's record is now (a digest of its state)."""
    state = peer.store.state(user_id(email)) or b""
    return hashlib.sha256(state).hexdigest()


async def set_status(peer: Peer, email: str, status: str) -> User:
    """Lock, unlock (``active``: failures start over) or disable a user (main only)."""
    _main_only(peer, "change users")
    email = normal_email(email)
    if status not in ("active", "locked", "disabled"):
        raise UsageError(f"a user is set active, locked or disabled, not {status!r}")
    current = _user(peer, email)
    if status == "active" and not current.accepted:
        raise UsageError(f"{email} has not accepted the invitation yet: invite again")
    await peer.update("users", user_id(email), {"status": status})
    peer.meta.save({FAILURES + email: "0"})
    return _user(peer, email)
