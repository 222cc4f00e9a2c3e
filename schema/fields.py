"""Typed fields: validation of what a user writes, decoding of what is stored.

Stored values are JSON-native so every replica encodes them identically:
money is a canonical decimal string (``"12.50"``), a date an ISO string, a
reference the target's record id. Rich note text is a CRDT text and is
handled by the record layer; here it is only checked to be a string.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from enum import Enum

from roamsync.schema.errors import FieldTypeError, UsageError, ValueTooLargeError

JsonValue = str | int | float | bool | None

MAX_TEXT = 64 * 1024  # bytes of UTF-8 in one text or note value
MAX_RECORD = 1 << 20  # bytes of a record's whole state (its Yjs encoding)


class FieldType(Enum):
    STRING = "string"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOL = "bool"
    REFERENCE = "reference"
    NOTE = "note"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False
    target: str | None = None  # the referenced module, for REFERENCE
    system: bool = False  # set by roamsync only (order numbers)


_CENT = Decimal("0.01")


def encode_value(module: str, field: Field, value: object) -> JsonValue:
    """Validate ``value`` for ``field`` and return its stored form (``None`` clears it)."""
    if value is None:
        return None
    encoder = _ENCODERS[field.type]
    try:
        stored = encoder(value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise FieldTypeError(module, field.name, EXPECTS[field.type], value) from exc
    if isinstance(stored, str) and len(stored) * 4 > MAX_TEXT:  # may hold more than 64 KiB
        size = len(stored.encode("utf-8", "surrogatepass"))
        if size > MAX_TEXT:
            raise ValueTooLargeError(module, field.name, size, MAX_TEXT)
    return stored


DECODED = frozenset({FieldType.MONEY, FieldType.DATE})  # the types decode_value converts


def decode_value(field: Field, stored: JsonValue) -> object:
    """Turn a stored value back into its Python type (``Decimal``, ``date``); values of
    the other types (not in ``DECODED``) come back as stored."""
    if stored is None:
        return None
    if field.type is FieldType.MONEY:
        return Decimal(str(stored))
    if field.type is FieldType.DATE:
        return dt.date.fromisoformat(str(stored))
    return stored


def _encode_string(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


INT64 = 2**63  # integers are stored and sent as signed 64-bit


def _encode_number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    if isinstance(value, int) and not -INT64 <= value < INT64:
        raise ValueError("an integer out of the 64-bit range")
    if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
        raise ValueError("not a finite number")
    return value


def _encode_money(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError  # floats are refused: 0.1 is not an amount of money
    if isinstance(value, str):
        if not _MONEY.fullmatch(value.strip()):
            raise ValueError("not an amount")
        value = value.strip().replace(",", ".")
    with localcontext(Context(prec=60)):  # room for any amount a company has, in cents
        amount = Decimal(value)
        if not amount.is_finite() or amount != amount.quantize(_CENT):
            raise ValueError("money has at most two decimals")
        return str(abs(amount).quantize(_CENT) if amount == 0 else amount.quantize(_CENT))


def _encode_date(value: object) -> str:
    if isinstance(value, dt.datetime):
        raise TypeError  # a datetime is not a date; refuse rather than truncate
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        dotted = _DOTTED_DATE.fullmatch(text)
        if dotted:  # dd.mm.yyyy, as people write dates here
            day, month, year = (int(part) for part in dotted.groups())
            return dt.date(year, month, day).isoformat()
        if not _ISO_DATE.fullmatch(text):
            raise ValueError("not a date")
        return dt.date.fromisoformat(text).isoformat()
    raise TypeError


def _encode_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _encode_reference(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


# What each type expects, in the words of an error message.
EXPECTS = {
    FieldType.STRING: "text",
    FieldType.NUMBER: "a number like 12 or 2.5",
    FieldType.MONEY: "an amount like 12.50 or 12,50",
    FieldType.DATE: "a date like 2026-12-31 or 31.12.2026",
    FieldType.BOOL: "yes or no (also true/false, 1/0, ja/nei)",
    FieldType.REFERENCE: "a record's id",
    FieldType.NOTE: "text",
}
_MONEY = re.compile(r"-?\d+(?:[.,]\d{1,2})?")
_NUMBER = re.compile(r"-?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_YES = frozenset({"yes", "y", "true", "1", "ja", "j"})
_NO = frozenset({"no", "n", "false", "0", "nei"})


def as_typed(value: object) -> str:
    """A value as a person would type it (what :func:`parse_input` reads back): empty for
    none, ``yes``/``no`` for booleans, else its text (money ``12.50``, dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def parse_input(module: str, field: Field, text: str) -> object:
    """What a person typed (the command line, a CSV file) as the value ``encode_value``
    takes: numbers with a point or a comma, money as ``12.50`` or ``12,50``, dates as
    ISO or ``dd.mm.yyyy``, yes/no; an empty text clears the field (``None``).
    ``FieldTypeError`` naming the expected format for anything else."""
    text = text.strip()
    if text == "":
        return None
    kind = field.type
    if kind is FieldType.NUMBER:
        if not _NUMBER.fullmatch(text):
            raise FieldTypeError(module, field.name, EXPECTS[kind], text)
        text = text.replace(",", ".")
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if kind is FieldType.BOOL:
        word = text.lower()
        if word not in _YES | _NO:
            raise FieldTypeError(module, field.name, EXPECTS[kind], text)
        return word in _YES
    return text


_ENCODERS = {
    FieldType.STRING: _encode_string,
    FieldType.NUMBER: _encode_number,
    FieldType.MONEY: _encode_money,
    FieldType.DATE: _encode_date,
    FieldType.BOOL: _encode_bool,
    FieldType.REFERENCE: _encode_reference,
    FieldType.NOTE: _encode_string,
}


MAX_NAME = 64  # characters in a device name


def device_name(value: object) -> str:
    """A device name as it may be enrolled: text of 1 to 64 printable characters, no
    leading or trailing space. It shows in terminals, logs and provisional numbers, so
    control characters (an ANSI escape, a newline) never get in."""
    if not isinstance(value, str):
        raise UsageError(f"a device name is text, not {type(value).__name__}")
    if not value or len(value) > MAX_NAME:
        raise UsageError(f"a device name has 1 to {MAX_NAME} characters, not {len(value)}")
    if not value.isprintable() or value != value.strip():
        raise UsageError(
            f"a device name has only printable characters and no space at either end: {value!r}"
        )
    return value
