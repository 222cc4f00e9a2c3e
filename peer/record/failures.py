"""pycrdt's failures on malformed data, translated to ``ValueError`` where they enter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_PANIC = ("pyo3_runtime", "PanicException")  # how pyo3 reports a Rust panic


@contextmanager
def pycrdt_failures(doing: str) -> Iterator[None]:
    """Turn pycrdt's other failures on malformed data into ``ValueError``.

    pycrdt 0.14 raises ``ValueError`` for an update it cannot decode, but
    ``RuntimeError`` for one it cannot integrate ("block parent must be deleted or
    shared ref type"), and some updates make yrs panic (an index out of bounds
    while applying, a string that is not UTF-8 when reading it back): pyo3 then
    raises its ``PanicException``, which derives from ``BaseException`` and is not
    exported. Only that class, matched by name, is translated; every other
    BaseException (KeyboardInterrupt, SystemExit, CancelledError) passes untouched.
    """
    try:
        yield
    except BaseException as exc:
        failure = pycrdt_failure(exc, doing)
        if failure is None:
            raise
        raise failure from exc


def pycrdt_failure(exc: BaseException, doing: str) -> ValueError | None:
    """The ``ValueError`` that :func:`pycrdt_failures` raises for ``exc``, or ``None``
    if ``exc`` is not one of pycrdt's failures and passes untouched."""
    if isinstance(exc, RuntimeError):
        return ValueError(f"pycrdt failed {doing}: {exc}")
    if (type(exc).__module__, type(exc).__name__) == _PANIC:
        return ValueError(f"pycrdt panicked {doing}: {exc}")
    return None
