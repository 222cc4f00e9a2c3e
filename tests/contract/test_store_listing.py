"""The listing's contract (pages, counts, lookups by key), run against MemoryStore and
SqliteStore: a row is listed by the key it is saved or indexed with, until it is saved
without one (deleted); rows a merge queues are listed anew when indexed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roamsync.peer.store import MemoryStore, RecordRow, SqliteStore, Store
from roamsync.schema import UsageError


def row(rid: str, key: str | None, module: str = "contacts", deleted: bool = False) -> RecordRow:
    return RecordRow(rid, module, b"state", f"view:{rid}".encode(), deleted, key=key)


def views(found: list[bytes]) -> list[str]:
    return [v.decode().removeprefix("view:") for v in found]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def test_pages_in_key_order_ties_by_id_either_way(store: Store) -> None:
    store.save([row("c", "b"), row("a", "b"), row("b", "a"), row("d", "c")])
    store.save([row("x", "a", module="projects")])
    assert views(store.page("contacts", 0, 10)) == ["b", "a", "c", "d"]
    assert views(store.page("contacts", 1, 2)) == ["a", "c"]
    assert views(store.page("contacts", 0, 10, "key", True)) == ["d", "c", "a", "b"]
    assert views(store.page("contacts", 4, 10)) == []
    assert store.count_listed("contacts") == 4
    assert store.count_listed("projects") == 1
    assert store.count_listed("orders") == 0


def test_changed_order_is_the_feed_order_when_listed(store: Store) -> None:
    store.save([row("a", "z"), row("b", "y")])
    store.save([row("a", "z")])  # changed again: now the latest
    assert views(store.page("contacts", 0, 10, "changed")) == ["b", "a"]
    assert views(store.page("contacts", 0, 10, "changed", True)) == ["a", "b"]
    with pytest.raises(UsageError):
        store.page("contacts", 0, 10, "name")


def test_a_row_without_a_key_is_not_listed_and_counts_follow(store: Store) -> None:
    store.save([row("a", "a"), row("b", "b")])
    store.save([row("a", None, deleted=True)])
    assert views(store.page("contacts", 0, 10)) == ["b"]
    assert store.count_listed("contacts") == 1
    store.save([row("a", "c")])  # restored
    store.save([row("b", "d")])  # saved again with a new key: moved, counted once
    assert views(store.page("contacts", 0, 10)) == ["a", "b"]
    assert store.count_listed("contacts") == 2


def test_queued_rows_are_listed_anew_when_indexed(store: Store) -> None:
    store.save([row("a", "a"), row("b", "b")])
    store.save([row("a", None, deleted=True), row("c", None)], index_later=True)
    pending = sorted(rid for rid, _, _ in store.pending_index(10))
    assert pending == ["a", "c"]
    assert views(store.page("contacts", 0, 10)) == ["b"]  # a deleted row never shows
    store.index([("a", "contacts", "", None), ("c", "contacts", "", "0")])
    assert store.pending_index(10) == []
    assert views(store.page("contacts", 0, 10)) == ["c", "b"]
    assert store.count_listed("contacts") == 2


def test_listed_finds_rows_by_key(store: Store) -> None:
    store.save([row("l1", "o1", "order_lines"), row("l2", "o2", "order_lines")])
    store.save([row("l3", "o1", "order_lines"), row("l4", "o1", "quote_lines")])
    store.save([row("l3", None, "order_lines", deleted=True)])
    assert views(store.listed("order_lines", ["o1"])) == ["l1"]
    assert views(store.listed("order_lines", ["o1", "o2", "nope"])) == ["l1", "l2"]
    assert store.listed("order_lines", []) == []
