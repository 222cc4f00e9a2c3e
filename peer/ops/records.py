"""Operations on records: create, update, delete, restore, get, list (whole, or a page),
find, search, rejections."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Fields, Range, Ref, Text
from roamsync.peer.replica.listing import list_key, sort_field
from roamsync.peer.replica.records import load_view
from roamsync.schema import PermissionDeniedError, RecordNotFoundError, UsageError, get_module
from roamsync.schema.modules import SYSTEM_MODULES

Record = dict[str, Any]
Query = Annotated[str, Text(500, nonempty=True)]  # what a search looks for
Offset = Annotated[int, Range(0, 10**9)]  # records before a page
Limit = Annotated[int, Range(1, 1000)]  # records on a page


def _business(module: str) -> str:
    """Records of the system modules (the device registry, device status, the company
    profile) are written only by their own operations, which check what they write."""
    if module in SYSTEM_MODULES:
        raise PermissionDeniedError(
            f"{module} records are written by roamsync itself (invite, join, disconnect, "
            "offline, online, company), not as records"
        )
    return module


def record_id(node: Node, module: str, ref: str) -> str:
    """The id of the record ``ref`` names: its id; for quotes and orders also its final or
    provisional number (``P-anna-2``); for records with a name, its exact name (any case)."""
    peer = node.peer
    if peer.store.view(ref) is not None:
        return ref
    mod = get_module(module)
    found: list[Record] = []
    if mod.numbered:
        found = peer.find(module, ref)
    elif "name" in mod.fields:
        wanted = ref.strip().casefold()
        found = [
            r
            for r in peer.search(module, ref, limit=1000)
            if str(r.get("name") or "").strip().casefold() == wanted
        ]
    if len(found) > 1:
        ids = ", ".join(str(r["id"]) for r in found[:5])
        raise UsageError(f"{len(found)} {module} records are {ref!r} ({ids}): give the id")
    if not found:
        raise RecordNotFoundError(module, ref)
    return str(found[0]["id"])


def resolve_references(node: Node, module: str, fields: Fields) -> Fields:
    """``fields`` with each reference given by number or exact name turned into the id
    (:func:`record_id`)."""
    mod = get_module(module)
    out = dict(fields)
    for name, value in fields.items():
        target = mod.field(name).target
        if target and isinstance(value, str) and value:
            out[name] = record_id(node, target, value)
    return out


async def create(node: Node, module: Ref, fields: Fields) -> dict[str, Any]:
    """Create a record; its id (and for quotes and orders, its number). A reference may
    be given by id, by number (quotes, orders) or by exact name."""
    fields = resolve_references(node, _business(module), fields)
    made = await node.peer.create(module, fields)
    if not get_module(module).numbered:
        return {"id": made}
    return {"id": made, "number": node.peer.get(module, made)["number"]}


async def update(node: Node, module: Ref, id: Ref, fields: Fields) -> dict[str, str]:
    """Change some fields of a record (``id``: an id, number or name; ``None`` clears)."""
    rid = record_id(node, _business(module), id)
    await node.peer.update(module, rid, resolve_references(node, module, fields))
    return {"id": rid}


async def delete(node: Node, module: Ref, id: Ref) -> dict[str, str]:
    """Delete a record (``restore`` brings it back; ``id``: an id, number or name)."""
    rid = record_id(node, _business(module), id)
    await node.peer.delete(module, rid)
    return {"id": rid}


async def restore(node: Node, module: Ref, id: Ref) -> Record:
    """Bring back a deleted record (``id``: its id, or a quote's or order's number), with
    every edit it had."""
    rid = id
    if node.peer.store.view(id) is None and get_module(_business(module)).numbered:
        found = [load_view(v) for v in node.peer.store.find_number(module, id, deleted=True)]
        deleted = [str(v["id"]) for v in found if v["deleted"]]
        if len(deleted) == 1:
            rid = deleted[0]
    await node.peer.restore(_business(module), rid)
    return node.peer.get(module, rid)


async def get(node: Node, module: Ref, id: Ref, labels: bool = False) -> Record:
    """One live record (``id``: its id; a quote's or order's number; an exact name;
    ``labels``: references as ``label (id)``)."""
    record = node.peer.get(module, record_id(node, module, id))
    return label_references(node, module, [record])[0] if labels else record


async def list_records(node: Node, module: Ref, labels: bool = False) -> list[Record]:
    """The live records of a module: by number (quotes, orders), else by name or title
    (``labels``: references as ``label (id)``). The order of :func:`list_page`."""
    mod = get_module(module)
    records = node.peer.list(module)
    records.sort(key=lambda r: (list_key(mod, r), r["id"]))
    if labels:
        label_references(node, module, records)
    return records


async def list_page(
    node: Node,
    module: Ref,
    offset: Offset = 0,
    limit: Limit = 50,
    sort: Literal["key", "changed"] = "key",
    descending: bool = False,
    labels: bool = False,
) -> dict[str, Any]:
    """``limit`` live records of a module from ``offset``, in list order, and how many
    it has. ``sort``: ``key`` (by number for quotes and orders, else by name or title: the
    order of :func:`list_records`) or ``changed`` (as last changed on this device);
    ``descending`` reverses it. One indexed query and the page's records, whatever the
    module's size. ``by`` names the field the ``key`` order goes by (``id``: none).

    >>> await list_page(node, "contacts", offset=50, limit=50)
    {'records': [...], 'total': 100000, 'offset': 50, 'sort': 'key', 'descending': False,
     'by': 'name'}
    """
    await node.peer.indexed()
    records, total = node.peer.page(module, offset, limit, order=sort, descending=descending)
    if labels:
        label_references(node, module, records)
    by = sort_field(get_module(module)) or "id"
    return {
        "records": records,
        "total": total,
        "offset": offset,
        "sort": sort,
        "descending": descending,
        "by": by,
    }


def label_references(node: Node, module: str, records: list[Record]) -> list[Record]:
    """The records with each reference shown as ``label (id)``: the referenced record's
    number, else its name (for tables people read)."""
    refs = [f.name for f in get_module(module).fields.values() if f.target]
    cache: dict[str, str] = {}
    for record in records:
        for name in refs:
            rid = record.get(name)
            if isinstance(rid, str) and rid:
                if rid not in cache:
                    view = node.peer.records.view(rid)
                    fields = view["fields"] if view is not None else {}
                    cache[rid] = str(fields.get("number") or fields.get("name") or "?")
                record[name] = f"{cache[rid]} ({rid})"
    return records


async def find(node: Node, module: Ref, number: Ref) -> list[Record]:
    """Quotes or orders whose final or provisional number is ``number``."""
    return node.peer.find(module, number)


async def search(node: Node, module: Ref, text: Query) -> list[Record]:
    """Records of a module whose text fields hold every word of ``text`` (the start of
    a word, any case, accents ignored), best matches first, at most 50."""
    await node.peer.indexed()
    return node.peer.search(module, text)


async def rejections(node: Node) -> list[dict[str, Any]]:
    """Writes from other devices that broke the permission matrix and were ignored."""
    return [r.__dict__ for r in node.peer.rejections()]
