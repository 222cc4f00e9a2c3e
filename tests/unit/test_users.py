"""Web users (issue 14, 2 and 3, first part): invited on main, accepted with a password
(Argon2id), replicated to every peer, locked after five failures in a row."""

from __future__ import annotations

import time

import pytest

from roamsync.peer.org import users
from roamsync.schema import InvitationError, PermissionDeniedError, UsageError
from roamsync.transport.memory import sync

from conftest import OpenPeer

GOOD = "correct horse battery"


async def test_invite_accept_and_log_in(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    code = await users.invite(hq, "Kari@Acme.no", "admin", "Kari")
    [invited] = users.users(hq)
    assert (invited.email, invited.status, invited.accepted) == ("kari@acme.no", "invited", False)
    assert await users.authenticate(hq, "kari@acme.no", GOOD) is None  # not accepted yet
    with pytest.raises(UsageError, match="10 characters"):
        await users.accept(hq, code, "short")
    with pytest.raises(InvitationError):
        await users.accept(hq, code.split(".")[0] + ".wrong", GOOD)
    accepted = await users.accept(hq, code, GOOD)
    assert (accepted.status, accepted.accepted) == ("active", True)
    with pytest.raises(InvitationError, match="used already"):
        await users.accept(hq, code, GOOD)  # single use
    record = hq.get("users", users.user_id("kari@acme.no"))
    assert str(record["password"]).startswith("$argon2id$")  # never the password itself
    assert GOOD not in str(record)
    logged = await users.authenticate(hq, " KARI@acme.no ", GOOD)
    assert logged is not None
    assert logged.role == "admin"


async def test_an_expired_invitation_is_refused(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    code = await users.invite(hq, "ola@acme.no", "office", ttl=60)
    with pytest.raises(InvitationError, match="expired"):
        await users.accept(hq, code, GOOD, now=time.time() + 61)


async def test_five_failures_in_a_row_lock_the_account_everywhere(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    office = await open_peer("office", "office")
    await users.accept(hq, await users.invite(hq, "ola@acme.no", "office"), GOOD)
    for _ in range(4):
        assert await users.authenticate(hq, "ola@acme.no", "wrong password") is None
    assert await users.authenticate(hq, "ola@acme.no", GOOD) is not None  # the count restarts
    for _ in range(5):
        assert await users.authenticate(hq, "ola@acme.no", "wrong password") is None
    assert await users.authenticate(hq, "ola@acme.no", GOOD) is None  # locked
    await sync(hq, office)
    assert [u.status for u in users.users(office)] == ["locked"]
    assert await users.authenticate(office, "ola@acme.no", GOOD) is None
    await users.set_status(hq, "ola@acme.no", "active")  # an admin unlocks
    await sync(hq, office)
    assert await users.authenticate(office, "ola@acme.no", GOOD) is not None


async def test_a_lock_on_another_peer_holds_there_until_main_changes_the_account(
    open_peer: OpenPeer,
) -> None:
    hq = await open_peer("hq", "main")
    office = await open_peer("office", "office")
    await users.accept(hq, await users.invite(hq, "ola@acme.no", "office"), GOOD)
    await sync(hq, office)
    assert await users.authenticate(office, "ola@acme.no", GOOD) is not None  # any peer
    for _ in range(5):
        await users.authenticate(office, "ola@acme.no", "wrong password")
    assert await users.authenticate(office, "ola@acme.no", GOOD) is None  # locked there
    assert await users.authenticate(hq, "ola@acme.no", GOOD) is not None  # not on main
    await users.set_status(hq, "ola@acme.no", "active")
    await sync(hq, office)
    assert await users.authenticate(office, "ola@acme.no", GOOD) is not None


async def test_only_main_manages_users(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    office = await open_peer("office", "office")
    code = await users.invite(hq, "ola@acme.no", "office")
    with pytest.raises(PermissionDeniedError):
        await users.invite(office, "eve@acme.no", "admin")
    with pytest.raises(PermissionDeniedError):
        await users.accept(office, code, GOOD)
    with pytest.raises(PermissionDeniedError):
        await office.create("users", {"email": "eve@acme.no", "role": "admin", "status": "active"})
    await users.set_status(hq, "ola@acme.no", "disabled")
    assert [u.status for u in users.users(hq)] == ["disabled"]
    with pytest.raises(UsageError, match="role"):
        await users.invite(hq, "x@acme.no", "root")
