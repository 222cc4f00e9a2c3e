"""The ``roamsync`` command line: :mod:`.commands` and :mod:`.serve` over :mod:`roamsync.peer.ops`.

:mod:`.run` runs an operation through the daemon or on the directory and turns
errors into one line and an exit code; :mod:`.render` prints tables and JSON.
"""

from __future__ import annotations

import sys

from roamsync.peer.cli import data as _data  # noqa: F401 (registers user, import, backup...)
from roamsync.peer.cli import serve as _serve  # noqa: F401 (registers the serve command)
from roamsync.peer.cli.commands import main
from roamsync.peer.cli.run import fail
from roamsync.schema import InvalidArgumentError

__all__ = ["entry", "main"]


def entry() -> None:
    """Console entry point. An argument that is not text (bytes a shell passed on that are
    not UTF-8) is refused before any command sees it."""
    for position, arg in enumerate(sys.argv[1:], 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            fail(InvalidArgumentError(f"argument {position}", "is not valid UTF-8 text"))
    main()
