"""The layout keeps its promises: the layers import downwards only, only ``peer/record/``
knows pycrdt, ``transport/`` knows nothing of ``peer/``, and units stay small."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"peer": "roamsync.peer", "schema": "roamsync.schema", "transport": "roamsync.transport"}
# peer's layers, lowest first: a module may import its own layer and those below it.
LAYERS = ["core", "record", "store", "replica", "org", "daemon", "ops", "api", "web", "cli"]
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


@functools.cache
def modules() -> list[tuple[str, Path, ast.Module]]:
    found = []
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *parts]).removesuffix(".__init__")
            found.append((name, path, ast.parse(path.read_text())))
    return found


def imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] != ["roamsync", "peer"] or len(parts) < 3 or parts[2] not in LAYERS:
        return None
    return LAYERS.index(parts[2])


def test_transport_and_schema_import_nothing_of_peer() -> None:
    found = [
        f"{name} imports {imported}"
        for name, _, tree in modules()
        if not name.startswith("roamsync.peer")
        for imported in imports(tree)
        if imported.startswith("roamsync.peer")
    ]
    assert found == []


def test_only_the_record_package_imports_pycrdt() -> None:
    found = [
        name
        for name, _, tree in modules()
        if not name.startswith("roamsync.peer.record")
        and any(i == "pycrdt" or i.startswith("pycrdt.") for i in imports(tree))
    ]
    assert found == []


def test_layers_import_downwards() -> None:
    found = []
    for name, _, tree in modules():
        own = layer(name)
        if own is None:
            continue
        for imported in imports(tree):
            other = layer(imported)
            if other is not None and other > own:
                found.append(f"{name} imports {imported}")
    assert found == []


@pytest.mark.parametrize("name", [name for name, _, _ in modules()])
def test_units_stay_small(name: str) -> None:
    [(path, tree)] = [(p, t) for n, p, t in modules() if n == name]
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name}: {size} lines"
