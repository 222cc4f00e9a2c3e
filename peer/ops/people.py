"""Operations on web users (peer/org/users.py): invite, list, lock, unlock, disable,
accept an invitation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Name, Range, Text
from roamsync.peer.org import users as accounts

Email = Annotated[str, Text(254, nonempty=True)]
UserRole = Literal["admin", "office", "read-only"]
Hours = Annotated[float, Range(0.01, 720, "hours")]
Label = Annotated[str, Text(200)]  # a name that may be empty
Secret = Annotated[str, Text(1000)]


async def user_invite(
    node: Node, email: Email, role: UserRole, name: Label = "", hours: Hours = 24.0
) -> dict[str, Any]:
    """Invite a web user (main): the single-use acceptance code and its page's path."""
    code = await accounts.invite(node.peer, email, role, name, hours * 3600)
    return {"email": accounts.normal_email(email), "code": code, "path": f"/accept/{code}"}


async def users(node: Node) -> list[dict[str, Any]]:
    """The web users: e-mail, name, role, status, and whether they accepted."""
    return [asdict(user) for user in accounts.users(node.peer)]


async def user_status(
    node: Node, email: Email, status: Literal["active", "locked", "disabled"]
) -> dict[str, Any]:
    """Lock, unlock (``active``) or disable a web user (main)."""
    return asdict(await accounts.set_status(node.peer, email, status))


async def user_accept(node: Node, code: Name, password: Secret) -> dict[str, Any]:
    """Accept an invitation: set the password (main)."""
    return asdict(await accounts.accept(node.peer, code, password))
