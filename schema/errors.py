"""The one roamsync error tree, with what each error means at the two boundaries.

Every error roamsync raises on purpose derives from :class:`RoamsyncError`;
errors from libraries (sqlite3, pycrdt, aiohttp, ssl, zeroconf) are
translated where they enter, with the original chained as ``__cause__``::

    RoamsyncError                        HTTP  exit
    ├── SchemaError                       400    2   bad input for a module: nothing is written
    │   ├── UnknownModuleError            400    2
    │   ├── UnknownFieldError             400    2
    │   ├── FieldTypeError                400    2
    │   ├── MissingFieldError             400    2
    │   ├── ValueTooLargeError            413    2   a text over 64 KiB
    │   ├── RecordTooLargeError           413    2   a record over 1 MiB
    │   └── ReadOnlyFieldError            400    2
    ├── RecordNotFoundError               404    3   no such record, or it is deleted
    ├── ConflictNotFoundError             404    3   resolving a conflict that is not open
    ├── PermissionDeniedError             403    4   the device's role may not do this
    ├── UsageError (ValueError)           400    2   a bad argument: unknown role or policy
    │   ├── InvalidArgumentError          400    2   an operation's argument has the wrong type
    │   ├── RequestError                  400    2   the local API cannot take the request
    │   └── CriteriaError                 409    2   the company profile lacks what enrolment needs
    ├── StoreError                        500    5   the durable store failed
    │   └── StoreDamagedError             500    5   the store file is damaged: roamsync repair
    ├── RegistryError                     400    6
    │   ├── InvitationError               403    6   wrong, expired, used or locked invitation code
    │   └── EnrolledError                 409    6   that certificate is in the registry already
    ├── NodeError                         503    7   the node cannot start, or cannot finish a sync
    ├── DaemonError                       502    7   the daemon's local API did not answer
    │   └── UnauthorizedError             401    7   a request without the daemon's token
    ├── WorkerError                       500    1   the worker process reading new records failed
    ├── PeerClosedError                   409    1   the peer was used after close()
    ├── TransportError                    502    8   moving records between devices failed
    │   ├── ProtocolError                 400    8   a frame or message could not be decoded
    │   ├── ChannelClosed                 502    8   the other side went away
    │   ├── SessionRefused                403    8   a sync session was refused
    │   ├── TlsError                      500    8   a key or certificate cannot be used
    │   └── DiscoveryError                500    8   zeroconf could not start

The table :data:`BOUNDARY` gives each class its HTTP status (the local API) and
its exit code (the command line); a subclass not in the table takes its
nearest ancestor's. An error crosses the local API as ``{"error": <class
name>, "message": ..., "details": {...}}`` and :func:`from_wire` makes the
same class again on the client's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class RoamsyncError(Exception):
    """Base of every error roamsync raises on purpose."""

    details: ClassVar[tuple[str, ...]] = ()  # attributes that cross the local API

    def to_wire(self) -> dict[str, Any]:
        """The error as the local API sends it."""
        body: dict[str, Any] = {"error": type(self).__name__, "message": str(self)}
        extra = {name: getattr(self, name, None) for name in self.details}
        if extra:
            body["details"] = extra
        return body


class SchemaError(RoamsyncError):
    """Input does not fit the schema of its module."""


class UnknownModuleError(SchemaError):
    details = ("module",)

    def __init__(self, module: str) -> None:
        super().__init__(f"unknown module {module!r}")
        self.module = module


class UnknownFieldError(SchemaError):
    details = ("module", "field")

    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"module {module!r} has no field {field!r}")
        self.module = module
        self.field = field


class FieldTypeError(SchemaError):
    details = ("module", "field")

    def __init__(self, module: str, field: str, expected: str, value: object) -> None:
        super().__init__(
            f"{module}.{field} expects {expected}, got {type(value).__name__} {value!r}"
        )
        self.module = module
        self.field = field
        self.expected = expected
        self.value = value


class ValueTooLargeError(SchemaError):
    details = ("module", "field", "size")

    def __init__(self, module: str, field: str, size: int, limit: int) -> None:
        super().__init__(
            f"{module}.{field} holds at most {limit // 1024} KiB of text, not {size:,} bytes"
        )
        self.module = module
        self.field = field
        self.size = size


class RecordTooLargeError(SchemaError):
    details = ("module", "record", "size")

    def __init__(self, module: str, record: str, size: int, limit: int) -> None:
        super().__init__(
            f"{module} record {record} would be {size:,} bytes, over the limit of "
            f"{limit >> 20} MiB: nothing was written"
        )
        self.module = module
        self.record = record
        self.size = size


class MissingFieldError(SchemaError):
    details = ("module", "field")

    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"{module}.{field} is required")
        self.module = module
        self.field = field


class ReadOnlyFieldError(SchemaError):
    details = ("module", "field")

    def __init__(self, module: str, field: str) -> None:
        super().__init__(f"{module}.{field} is set by roamsync and cannot be written")
        self.module = module
        self.field = field


class RecordNotFoundError(RoamsyncError):
    details = ("module", "record_id")

    def __init__(self, module: str, record_id: str) -> None:
        where = f" in {module!r}" if module else ""
        super().__init__(f"no record {record_id!r}{where}")
        self.module = module
        self.record_id = record_id


class ConflictNotFoundError(RoamsyncError):
    """There is no open conflict on that record field."""


class PermissionDeniedError(RoamsyncError):
    """The device's role may not perform this operation (nothing was written)."""


class UsageError(RoamsyncError, ValueError):
    """A bad argument to the API, such as an unknown role or conflict policy."""


class InvalidArgumentError(UsageError):
    """An operation's argument is missing, of the wrong type, or out of range."""

    details = ("argument",)

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


class RequestError(UsageError):
    """The local API could not take the request: no such route or method, a body too
    large or not decodable (its HTTP status is the one the server gives)."""


class CriteriaError(UsageError):
    """The company profile lacks what enrolment needs."""

    details = ("missing",)

    def __init__(self, missing: list[str]) -> None:
        super().__init__("the company profile is incomplete; missing: " + ", ".join(missing))
        self.missing = missing


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


class RegistryError(RoamsyncError):
    """The device registry refused a change (enrolment, revocation)."""


class InvitationError(RegistryError):
    """The invitation code is wrong, expired, used or locked."""


class EnrolledError(RegistryError):
    """The certificate a device tries to enrol is in the registry already (active or not)."""


class NodeError(RoamsyncError):
    """The node could not start (data directory in use, port taken, ...) or sync in time."""


class DaemonError(RoamsyncError):
    """The daemon's local API did not answer, or answered what is not an answer."""


class UnauthorizedError(DaemonError):
    """The request to the daemon's local API did not carry its token."""


class WorkerError(RoamsyncError):
    """The worker process reading new records is gone, or answered what was not asked."""


class PeerClosedError(RoamsyncError):
    """The peer was used after it was closed."""


class TransportError(RoamsyncError):
    """Moving records between devices failed."""


class ProtocolError(TransportError):
    """A wire frame or message could not be decoded or is not allowed here."""


class ChannelClosed(TransportError):
    """The other side went away, or the channel was closed."""


class SessionRefused(TransportError):
    """The other side may not sync with us (other company, unknown device, old version)."""


class TlsError(TransportError):
    """A key or certificate cannot be made, read or used."""


class DiscoveryError(TransportError):
    """Zeroconf discovery could not start or announce."""


# class: (HTTP status of the local API, exit code of the command line)
BOUNDARY: Mapping[type[RoamsyncError], tuple[int, int]] = {
    RoamsyncError: (500, 1),
    SchemaError: (400, 2),
    ValueTooLargeError: (413, 2),
    RecordTooLargeError: (413, 2),
    RecordNotFoundError: (404, 3),
    ConflictNotFoundError: (404, 3),
    PermissionDeniedError: (403, 4),
    UsageError: (400, 2),
    CriteriaError: (409, 2),
    StoreError: (500, 5),
    RegistryError: (400, 6),
    InvitationError: (403, 6),
    EnrolledError: (409, 6),
    NodeError: (503, 7),
    DaemonError: (502, 7),
    UnauthorizedError: (401, 7),
    WorkerError: (500, 1),
    PeerClosedError: (409, 1),
    TransportError: (502, 8),
    ProtocolError: (400, 8),
    SessionRefused: (403, 8),
    TlsError: (500, 8),
    DiscoveryError: (500, 8),
}
EXIT_USAGE = BOUNDARY[UsageError][1]


def _boundary(exc: RoamsyncError) -> tuple[int, int]:
    for cls in type(exc).__mro__:
        if cls in BOUNDARY:
            return BOUNDARY[cls]
    return BOUNDARY[RoamsyncError]


def http_status(exc: RoamsyncError) -> int:
    """The local API's status code for ``exc``."""
    return _boundary(exc)[0]


def exit_code(exc: RoamsyncError) -> int:
    """The command line's exit code for ``exc``."""
    return _boundary(exc)[1]


def error_classes() -> dict[str, type[RoamsyncError]]:
    """Every class of the tree by name (so the API client can raise what the daemon did)."""
    found: dict[str, type[RoamsyncError]] = {}
    todo: list[type[RoamsyncError]] = [RoamsyncError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def from_wire(body: Mapping[str, Any]) -> RoamsyncError:
    """The error the local API sent, as the same class (its constructor is bypassed: the
    message is the daemon's, the details are set as attributes)."""
    cls = error_classes().get(str(body.get("error")), RoamsyncError)
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(body.get("message", "")))
    details = body.get("details")
    if isinstance(details, Mapping):
        for name in cls.details:
            if name in details:
                setattr(exc, name, details[name])
    return exc
