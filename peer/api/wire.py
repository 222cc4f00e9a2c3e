"""Values as the local API sends them: JSON, with money and dates as strings."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import orjson


def to_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def to_plain(value: Any) -> Any:
    """``value`` as it comes out of the API (what the command line prints either way)."""
    return orjson.loads(to_json(value))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError
