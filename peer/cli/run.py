"""Running an operation for the command line: through the daemon, or on the directory.

:func:`invoke` is the one path every command takes: when ``roamsync serve`` runs
on the directory it calls the operation's route in the daemon's local API;
when it does not, it checks the arguments the same way
(:func:`~roamsync.peer.ops.args.bind`), opens the directory's node, runs the
operation and closes the node. Either way the result is the API's JSON.

:func:`run` turns every roamsync error into one line on stderr (the class and
the message; the company profile's gaps in red) and the exit code
:func:`~roamsync.schema.errors.exit_code` gives, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from roamsync.peer.api.client import ApiClient, daemon_info
from roamsync.peer.api.routes import Operation
from roamsync.peer.api.wire import to_plain
from roamsync.peer.cli.render import say, shout
from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import bind
from roamsync.schema import CriteriaError, RoamsyncError
from roamsync.schema.errors import exit_code

T = TypeVar("T")


async def invoke(folder: Path, op: Operation, **args: Any) -> Any:
    """Run ``op`` with ``args`` for the directory ``folder``. The arguments are checked
    here either way, so a mistake reads the same with or without the daemon."""
    bound = bind(op, args)
    info = daemon_info(folder)
    if info is not None:
        return await ApiClient(info).run(op, bound)
    node = await Node.open(folder)
    try:
        return to_plain(await op(node, **bound))
    finally:
        await node.stop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a roamsync error is printed and ends the command."""
    try:
        return asyncio.run(coro)
    except RoamsyncError as exc:
        fail(exc)


def fail(exc: RoamsyncError) -> NoReturn:
    if isinstance(exc, CriteriaError) and getattr(exc, "missing", None):
        say("The company profile is incomplete. Register first (roamsync company):", err=True)
        for item in exc.missing:
            shout(f"  missing: {item}", fg="red", err=True)
    else:
        say(f"Error: {type(exc).__name__}: {exc}", err=True)
    raise SystemExit(exit_code(exc))
