"""The one roamsync error tree.

Every error roamsync raises on purpose derives from :class:`RoamsyncError`;
errors from libraries (sqlite3, pycrdt, aiohttp) are translated where they
enter, with the original chained as ``__cause__``::

    RoamsyncError
    ├── SchemaError                 bad input for a module: nothing is written
    │   ├── UnknownModuleError
    │   ├── UnknownFieldError
    │   ├── FieldTypeError
    │   ├── MissingFieldError
    │   └── ReadOnlyFieldError
    ├── RecordNotFoundError         no such record, or it is deleted
    ├── PermissionDeniedError       the device's role may not do this
    ├── ConflictNotFoundError       resolving a conflict that is not open
    ├── UsageError (ValueError)     a bad argument: unknown role or policy
    ├── StoreError                  the durable store failed or is damaged
    │   └── StoreDamagedError       the store file is damaged: roamsync repair
    ├── ProtocolError               a frame or message could not be decoded
    └── PeerClosedError             the peer was used after close()

A caller that wants "anything roamsync refused" catches ``RoamsyncError``.
"""

from __future__ import annotations


class RoamsyncError(Exception):
    """Base of every error roamsync raises on purpose."""


class SchemaError(RoamsyncError):
    """Input does not fit the schema of its module."""


class UnknownModuleError(SchemaError):
    def __init__(self, module: str) -> None:
        super().__init__(f"unknown module {module!r}")
        self.module = module


class UnknownFieldError(SchemaError):
    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"module {module!r} has no field {field!r}")
        self.module = module
        self.field = field


class FieldTypeError(SchemaError):
    def __init__(self, module: str, field: str, expected: str, value: object) -> None:
        super().__init__(
            f"{module}.{field} expects {expected}, got {type(value).__name__} {value!r}"
        )
        self.module = module
        self.field = field


class MissingFieldError(SchemaError):
    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"{module}.{field} is required")
        self.module = module
        self.field = field


class ReadOnlyFieldError(SchemaError):
    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"{module}.{field} is set by roamsync and cannot be written")
        self.module = module
        self.field = field


class RecordNotFoundError(RoamsyncError):
    def __init__(self, module: str, record_id: str) -> None:
        super().__init__(f"no record {record_id!r} in {module!r}")
        self.module = module
        self.record_id = record_id


class PermissionDeniedError(RoamsyncError):
    """The device's role may not perform this operation (nothing was written)."""


class ConflictNotFoundError(RoamsyncError):
    """There is no open conflict on that record field."""


class UsageError(RoamsyncError, ValueError):
    """A bad argument to the API, such as an unknown role or conflict policy."""


class StoreError(RoamsyncError):
    """The durable store could not be opened, read or written."""


class StoreDamagedError(StoreError):
    """The store file is damaged (or gone while its directory says it had one).

    The message names the file and the way out: ``roamsync repair DIR`` keeps
    the damaged file, salvages every record it can still read into a new store,
    and the next sync brings the rest back from the peers.
    """

    def __init__(self, path: object, problem: str) -> None:
        folder = getattr(path, "parent", path)
        super().__init__(
            f"the store {path} is damaged: {problem}. Stop roamsync on this directory and run "
            f"`roamsync repair {folder}`: it keeps the damaged file, salvages what can still be "
            "read, and the next sync brings back the rest from the peers."
        )
        self.path = path
        self.problem = problem


class ProtocolError(RoamsyncError):
    """A wire frame or message could not be decoded or is not allowed here."""


class PeerClosedError(RoamsyncError):
    """The peer was used after it was closed."""
