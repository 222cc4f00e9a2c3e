"""The ``roamsync`` command line: :mod:`.commands` and :mod:`.serve` over :mod:`roamsync.peer.ops`.

:mod:`.run` runs an operation through the daemon or on the directory and turns
errors into one line and an exit code; :mod:`.render` prints tables and JSON.
"""

from __future__ import annotations

from roamsync.peer.cli import serve as _serve  # noqa: F401 (registers the serve command)
from roamsync.peer.cli.commands import main

__all__ = ["entry", "main"]


def entry() -> None:
    """Console entry point."""
    main()
