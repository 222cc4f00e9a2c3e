"""What a record is: modules, typed fields, roles, the permission matrix, errors."""

from roamsync.schema.errors import (
    ConflictNotFoundError,
    FieldTypeError,
    MissingFieldError,
    PeerClosedError,
    PermissionDeniedError,
    ProtocolError,
    ReadOnlyFieldError,
    RecordNotFoundError,
    RoamsyncError,
    SchemaError,
    StoreDamagedError,
    StoreError,
    UnknownFieldError,
    UnknownModuleError,
    UsageError,
)
from roamsync.schema.fields import Field, FieldType, JsonValue
from roamsync.schema.modules import MODULES, Module, get_module, validate_fields
from roamsync.schema.permissions import ROLES, TRAVEL_MATRIX, Role, allowed, check

__all__ = [
    "MODULES",
    "ROLES",
    "TRAVEL_MATRIX",
    "ConflictNotFoundError",
    "Field",
    "FieldType",
    "FieldTypeError",
    "JsonValue",
    "MissingFieldError",
    "Module",
    "PeerClosedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ReadOnlyFieldError",
    "RecordNotFoundError",
    "RoamsyncError",
    "Role",
    "SchemaError",
    "StoreDamagedError",
    "StoreError",
    "UnknownFieldError",
    "UnknownModuleError",
    "UsageError",
    "allowed",
    "check",
    "get_module",
    "validate_fields",
]
