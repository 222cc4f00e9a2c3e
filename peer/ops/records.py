"""Operations on records: create, update, delete, restore, get, list, find, rejections."""

from __future__ import annotations

from typing import Any

from roamsync.peer.daemon.node import Node
from roamsync.peer.ops.args import Fields

Record = dict[str, Any]


async def create(node: Node, module: str, fields: Fields) -> dict[str, str]:
    """Create a record; its id."""
    return {"id": await node.peer.create(module, fields)}


async def update(node: Node, module: str, id: str, fields: Fields) -> dict[str, str]:
    """Change some fields of a record (``None`` clears one)."""
    await node.peer.update(module, id, fields)
    return {"id": id}


async def delete(node: Node, module: str, id: str) -> dict[str, str]:
    """Delete a record (``restore`` brings it back)."""
    await node.peer.delete(module, id)
    return {"id": id}


async def restore(node: Node, module: str, id: str) -> Record:
    """Bring back a deleted record, with every edit it had."""
    await node.peer.restore(module, id)
    return node.peer.get(module, id)


async def get(node: Node, module: str, id: str) -> Record:
    """One live record."""
    return node.peer.get(module, id)


async def list_records(node: Node, module: str) -> list[Record]:
    """The live records of a module."""
    return node.peer.list(module)


async def find(node: Node, module: str, number: str) -> list[Record]:
    """Quotes or orders whose final or provisional number is ``number``."""
    return node.peer.find(module, number)


async def rejections(node: Node) -> list[dict[str, Any]]:
    """Writes from other devices that broke the permission matrix and were ignored."""
    return [r.__dict__ for r in node.peer.rejections()]
