"""The arguments of an operation, checked against its signature wherever they come from.

An operation's parameters are typed (``within: Seconds``, ``role: Literal[...]``,
``fields: Fields``); :func:`bind` takes raw arguments (a JSON body, a query
string, the command line's options) and returns them checked and converted,
or raises :class:`~roamsync.schema.InvalidArgumentError` naming the argument
and what it expects. The local API and the command line use the same check,
so both refuse the same input the same way: a NaN, an infinity, a string
where a number belongs or an object where a string belongs never reaches an
operation.

>>> async def offline(node: Node, force: bool = False, within: Seconds = 30.0) -> ...
>>> bind(offline, {"within": "abc"})
Traceback (most recent call last):
InvalidArgumentError: within: expects a number of seconds (0.1 to 86400), not 'abc'
"""

from __future__ import annotations

import functools
import inspect
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from roamsync.schema import InvalidArgumentError


@dataclass(frozen=True)
class Range:
    """A finite number from ``low`` to ``high``, in ``unit``."""

    low: float
    high: float
    unit: str = ""

    def describe(self) -> str:
        unit = f"{self.unit} " if self.unit else ""
        return f"a number of {unit}({self.low:g} to {self.high:g})"


@dataclass(frozen=True)
class Text:
    """A string of at most ``limit`` characters (``nonempty``: at least one; ``path``: one
    that can stand as a part of a URL path, so no ``/``)."""

    limit: int = 10_000
    nonempty: bool = False
    path: bool = False


Seconds = Annotated[float, Range(0.1, 86_400, "seconds")]
Name = Annotated[str, Text(200, nonempty=True)]
Ref = Annotated[str, Text(200, nonempty=True, path=True)]  # a module, record id, field, device
INT64 = 2**63  # integers cross the API as signed 64-bit
Scalar = str | int | float | bool | None  # a field value as JSON gives it
Fields = dict[str, Scalar]  # field name -> value, for create and update
CONTEXT = 1  # an operation's first parameter is its context (a node, a folder): not an argument


def bind(
    op: Callable[..., Any], raw: Mapping[str, object], *, text: bool = False
) -> dict[str, Any]:
    """``raw`` checked against ``op``'s parameters (after its context). ``text``: the values
    are strings from a URL (a query or path), to be read as their parameter's type."""
    params = _params(op)
    unknown = sorted(set(raw) - set(params))
    if unknown:
        raise InvalidArgumentError(unknown[0], f"is not an argument of {op.__name__}")
    bound: dict[str, Any] = {}
    for name, (kind, required) in params.items():
        if name in raw:
            value = raw[name]
            if text and isinstance(value, str):
                value = _from_text(kind, value)
            bound[name] = convert(name, kind, value)
        elif required:
            raise InvalidArgumentError(name, "is required")
    return bound


@functools.cache
def _params(op: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    hints = get_type_hints(op, include_extras=True)
    found = {}
    for name, param in list(inspect.signature(op).parameters.items())[CONTEXT:]:
        found[name] = (hints[name], param.default is inspect.Parameter.empty)
    return found


def convert(name: str, kind: Any, value: object) -> Any:
    """``value`` as parameter ``name`` of type ``kind`` takes it; InvalidArgumentError if not."""
    origin = get_origin(kind)
    if origin is Annotated:
        base, *marks = get_args(kind)
        return _check_marks(name, convert(name, base, value), marks)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        fitting = [o for o in options if _fits(o, value)]
        if len(fitting) == 1:  # its own check says best what is wrong (empty, too long, ...)
            return convert(name, fitting[0], value)
        for option in options:
            if option is not type(None):
                try:
                    return convert(name, option, value)
                except InvalidArgumentError:
                    continue
        raise InvalidArgumentError(name, f"expects {_describe(kind)}, not {_show(value)}")
    if origin is Literal:
        if value in get_args(kind) and isinstance(value, str):
            return value
        raise InvalidArgumentError(
            name, f"expects one of {', '.join(get_args(kind))}, not {_show(value)}"
        )
    if origin is dict:
        return _fields(name, value)
    return _scalar(name, kind, value)


def _fits(kind: Any, value: object) -> bool:
    """Whether ``value`` has the Python type of option ``kind`` of a union."""
    base = get_args(kind)[0] if get_origin(kind) is Annotated else kind
    if base is bool or isinstance(value, bool):
        return base is bool and isinstance(value, bool)
    return isinstance(base, type) and isinstance(value, base)


def _scalar(name: str, kind: Any, value: object) -> Any:
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        if not -INT64 <= value < INT64:
            raise InvalidArgumentError(name, "expects a 64-bit integer")
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidArgumentError(name, f"expects a finite number, not {_show(value)}")
        return float(value)
    if kind is str and isinstance(value, str):
        return _text(name, value)
    if kind is type(None) and value is None:
        return None
    raise InvalidArgumentError(name, f"expects {_describe(kind)}, not {_show(value)}")


def _fields(name: str, value: object) -> dict[str, Scalar]:
    if not isinstance(value, dict):
        raise InvalidArgumentError(name, f"expects an object of field: value, not {_show(value)}")
    for field, item in value.items():
        if not isinstance(field, str):
            raise InvalidArgumentError(name, f"field names are strings, not {_show(field)}")
        where = f"{name}.{_text(name, field)}"
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgumentError(where, f"expects a finite number, not {item}")
        if isinstance(item, int) and not -INT64 <= item < INT64:
            raise InvalidArgumentError(where, "expects a 64-bit integer")
        if isinstance(item, str):
            _text(where, item)
        elif not (item is None or isinstance(item, int | float | bool)):
            raise InvalidArgumentError(where, f"expects a value, not {_show(item)}")
    return dict(value)


def _text(name: str, value: str) -> str:
    """``value`` if it is text (a command line's arguments can hold bytes that are not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(name, "is not valid UTF-8 text") from None
    return value


def _check_marks(name: str, value: Any, marks: list[object]) -> Any:
    for mark in marks:
        if isinstance(mark, Range) and value is not None and not mark.low <= value <= mark.high:
            raise InvalidArgumentError(name, f"expects {mark.describe()}, not {_show(value)}")
        if isinstance(mark, Text) and value is not None:
            if len(value) > mark.limit:
                raise InvalidArgumentError(name, f"is longer than {mark.limit} characters")
            if mark.nonempty and not value.strip():
                raise InvalidArgumentError(name, "must not be empty")
            if mark.path and "/" in value:
                raise InvalidArgumentError(name, "must not contain /")
    return value


def _from_text(kind: Any, text: str) -> object:
    """A URL's string read as a value of ``kind`` (what stays a string is checked later)."""
    base = get_args(kind)[0] if get_origin(kind) is Annotated else kind
    options = get_args(base) if get_origin(base) in (Union, types.UnionType) else (base,)
    if bool in options and text in ("true", "false"):
        return text == "true"
    for number in (int, float):
        if number in options:
            try:
                return number(text)
            except ValueError:
                return text
    return text


def _describe(kind: Any) -> str:
    if get_origin(kind) is Annotated:
        base, *marks = get_args(kind)
        ranges = [m for m in marks if isinstance(m, Range)]
        return ranges[0].describe() if ranges else _describe(base)
    if get_origin(kind) in (Union, types.UnionType):
        return " or ".join(_describe(k) for k in get_args(kind))
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    return names.get(kind, "nothing" if kind is type(None) else str(kind))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
