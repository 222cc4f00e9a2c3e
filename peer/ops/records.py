"""Operations on records: create, update, delete, restore, get, list, find, rejections."""

from __future__ import annotations

from typing import Annotated, Any

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Fields, Ref, Text
from roamsync.schema import PermissionDeniedError
from roamsync.schema.modules import SYSTEM_MODULES

Record = dict[str, Any]
Query = Annotated[str, Text(500, nonempty=True)]  # what a search looks for


def _business(module: str) -> str:
    """Records of the system modules (the device registry, device status, the company
    profile) are written only by their own operations, which check what they write."""
    if module in SYSTEM_MODULES:
        raise PermissionDeniedError(
            f"{module} records are written by roamsync itself (invite, join, disconnect, "
            "offline, online, company), not as records"
        )
    return module


async def create(node: Node, module: Ref, fields: Fields) -> dict[str, str]:
    """Create a record; its id."""
    return {"id": await node.peer.create(_business(module), fields)}


async def update(node: Node, module: Ref, id: Ref, fields: Fields) -> dict[str, str]:
    """Change some fields of a record (``None`` clears one)."""
    await node.peer.update(_business(module), id, fields)
    return {"id": id}


async def delete(node: Node, module: Ref, id: Ref) -> dict[str, str]:
    """Delete a record (``restore`` brings it back)."""
    await node.peer.delete(_business(module), id)
    return {"id": id}


async def restore(node: Node, module: Ref, id: Ref) -> Record:
    """Bring back a deleted record, with every edit it had."""
    await node.peer.restore(_business(module), id)
    return node.peer.get(module, id)


async def get(node: Node, module: Ref, id: Ref) -> Record:
    """One live record."""
    return node.peer.get(module, id)


async def list_records(node: Node, module: Ref) -> list[Record]:
    """The live records of a module."""
    return node.peer.list(module)


async def find(node: Node, module: Ref, number: Ref) -> list[Record]:
    """Quotes or orders whose final or provisional number is ``number``."""
    return node.peer.find(module, number)


async def search(node: Node, module: Ref, text: Query) -> list[Record]:
    """Records of a module whose text fields hold every word of ``text`` (the start of
    a word, any case, accents ignored), best matches first, at most 50."""
    return node.peer.search(module, text)


async def rejections(node: Node) -> list[dict[str, Any]]:
    """Writes from other devices that broke the permission matrix and were ignored."""
    return [r.__dict__ for r in node.peer.rejections()]
