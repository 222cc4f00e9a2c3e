"""The order a module's records are listed in: one text key per record, kept in the store.

>>> list_key(get_module("contacts"), {"name": "Ærø Bygg"})
'ærø bygg'
>>> [list_key(get_module("orders"), {"number": n}) for n in ("9", "10", "P-anna-2")]
['0000019', '00000210', '1000012P-anna']

A page of a list is then one indexed query in key order (ties by id), whatever the
module's size (:mod:`roamsync.peer.store.search`). The key of a record is a pure
function of its fields, so every caller that sorts records (the command line's whole
list too) sorts them by :func:`list_key` and gets the same order as a page:

* quotes and orders: final numbers in numeric order, then provisional ones
  (``P-<device>-<n>``) by count, then device;
* modules with a name: the name, case-folded;
* quote and order lines: the quote or order they belong to (so a list groups the
  lines of one, and a page's totals find their lines by key);
* others: their first required text or date field (a document's title, an
  activity's subject, a time registration's date), else none (by id alone).

Keys compare as SQLite compares text (bytewise UTF-8, which is code point order, as
Python compares strings), so a Python sort and the store's index agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from roamsync.schema import MODULES, FieldType, Module
from roamsync.schema.modules import LINES

ORDERS = ("key", "changed")  # list order: by key (name, number...), by last change here


def sort_field(module: Module) -> str | None:
    """The field a module's records are listed by (``None``: by id alone)."""
    if module.name in _SORT_FIELDS:  # the schema's modules: worked out once
        return _SORT_FIELDS[module.name]
    return _sort_field(module)


def _sort_field(module: Module) -> str | None:
    if module.numbered:
        return "number"
    if module.name in LINES:
        return LINES[module.name][0]
    if "name" in module.fields:
        return "name"
    for name, field in module.fields.items():
        if field.required and field.type in (FieldType.STRING, FieldType.DATE):
            return name
    return None


_SORT_FIELDS = {name: _sort_field(module) for name, module in MODULES.items()}


def list_key(module: Module, values: Mapping[str, object]) -> str:
    """Where a record with these field values is listed (its key; ties by id)."""
    name = sort_field(module)
    if name is None:
        return ""
    text = str(values.get(name) or "")
    if module.numbered:
        return number_key(text)
    return text if module.fields[name].type is FieldType.REFERENCE else text.casefold()


def number_key(number: str) -> str:
    """Final numbers first, in numeric order, then provisional ones by count, then device
    (``P-anna-2`` counts 2 from ``P-anna``); a number of neither form counts 0."""
    if number.isascii() and number.isdigit():
        return "0" + _count_key(number)
    head, _, count = number.rpartition("-")
    digits = count if count.isascii() and count.isdigit() else "0"
    return "1" + _count_key(digits) + head


def _count_key(digits: str) -> str:
    """Decimal digits as text that sorts in numeric order: the length first (5 digits,
    more than any stored value can have), then the digits without leading zeros."""
    digits = digits.lstrip("0") or "0"
    return f"{len(digits):05d}{digits}"
