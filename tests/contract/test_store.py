"""The store contract, run against MemoryStore and SqliteStore, plus SQLite durability."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamsync.peer.store import MemoryStore, RecordRow, Rejection, SqliteStore, Store
from roamsync.schema import RoamsyncError, StoreDamagedError, StoreError


def row(
    record_id: str,
    module: str = "contacts",
    *,
    state: bytes | None = None,
    view: bytes | None = None,
    **kw: Any,
) -> RecordRow:
    return RecordRow(
        id=record_id,
        module=module,
        state=state if state is not None else f"state:{record_id}".encode(),
        view=view if view is not None else f"view:{record_id}".encode(),
        **kw,
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


# -- the shared contract -------------------------------------------------------------


def test_empty_store(store: Store) -> None:
    assert store.state("nope") is None
    assert store.view("nope") is None
    assert store.views("contacts") == []
    assert store.count("contacts") == 0
    assert store.find_number("orders", "1") == []
    assert store.changes(0, 100) == []
    assert store.last_seq() == 0
    assert store.unnumbered() == []
    assert store.conflicts() == []
    assert store.rejections() == []
    assert store.meta("client_id") is None


def test_save_then_state_and_view(store: Store) -> None:
    store.save([row("a", state=b"\x00\x01\xff", view=b'{"name":"Acme"}'), row("b")])
    assert store.state("a") == b"\x00\x01\xff"
    assert store.view("a") == b'{"name":"Acme"}'
    assert store.state("b") == b"state:b"
    assert store.view("b") == b"view:b"
    assert isinstance(store.state("a"), bytes)
    assert isinstance(store.view("a"), bytes)
    assert store.state("c") is None


def test_save_replaces_a_record(store: Store) -> None:
    store.save([row("a", state=b"v1", view=b"w1")])
    store.save([row("a", state=b"v2", view=b"w2")])
    assert store.state("a") == b"v2"
    assert store.view("a") == b"w2"
    assert store.count("contacts") == 1


def test_views_sorted_by_id_per_module_without_deleted(store: Store) -> None:
    store.save([row("m"), row("b"), row("z", deleted=True), row("a"), row("x", "orders")])
    store.save([row("k")])
    assert store.views("contacts") == [b"view:a", b"view:b", b"view:k", b"view:m"]
    assert store.views("orders") == [b"view:x"]
    assert store.views("products") == []
    # A deleted record is still readable by id (the replica needs its state to merge).
    assert store.state("z") == b"state:z"


def test_delete_and_restore_change_views_and_count(store: Store) -> None:
    store.save([row("a"), row("b")])
    store.save([row("a", deleted=True)])
    assert store.views("contacts") == [b"view:b"]
    assert store.count("contacts") == 1
    store.save([row("a")])
    assert store.views("contacts") == [b"view:a", b"view:b"]
    assert store.count("contacts") == 2


def test_count(store: Store) -> None:
    store.save([row(f"c{i}") for i in range(5)] + [row("o1", "orders"), row("d", deleted=True)])
    assert store.count("contacts") == 5
    assert store.count("orders") == 1
    assert store.count("stock") == 0


def test_find_number_matches_number_or_provisional(store: Store) -> None:
    store.save(
        [
            row("o1", "orders", number="1001"),
            row("o2", "orders", provisional="laptop-1/3"),
            row("o3", "orders", number="1002", provisional="laptop-2/1"),
            row("q1", "quotes", number="1001"),
            row("o4", "orders", number="1003", deleted=True),
        ]
    )
    assert store.find_number("orders", "1001") == [b"view:o1"]
    assert store.find_number("orders", "laptop-1/3") == [b"view:o2"]
    assert store.find_number("orders", "1002") == [b"view:o3"]
    assert store.find_number("orders", "laptop-2/1") == [b"view:o3"]
    assert store.find_number("quotes", "1001") == [b"view:q1"]
    assert store.find_number("orders", "9999") == []
    assert store.find_number("orders", "1003") == []  # deleted


def test_find_number_after_renumbering(store: Store) -> None:
    store.save([row("o1", "orders", provisional="laptop-1/1", needs_number=True)])
    store.save([row("o1", "orders", number="1005", provisional="laptop-1/1")])
    assert store.find_number("orders", "1005") == [b"view:o1"]
    assert store.find_number("orders", "laptop-1/1") == [b"view:o1"]


def test_last_seq_counts_every_saved_row(store: Store) -> None:
    assert store.last_seq() == 0
    store.save([row("a")])
    assert store.last_seq() == 1
    store.save([row("b"), row("c"), row("d")])
    assert store.last_seq() == 4
    store.save([], meta={"k": "v"})
    assert store.last_seq() == 4
    store.save([row("a")])
    assert store.last_seq() == 5


def test_changes_in_seq_order(store: Store) -> None:
    store.save([row("b"), row("a")])
    store.save([row("c", "orders")])
    assert store.changes(0, 100) == [
        (1, "b", b"state:b"),
        (2, "a", b"state:a"),
        (3, "c", b"state:c"),
    ]
    assert store.changes(1, 100) == [(2, "a", b"state:a"), (3, "c", b"state:c")]
    assert store.changes(3, 100) == []
    assert store.changes(0, 2) == [(1, "b", b"state:b"), (2, "a", b"state:a")]
    assert store.changes(1, 1) == [(2, "a", b"state:a")]
    assert store.changes(0, 0) == []


def test_feed_skips_what_came_from_the_peer_but_advances(store: Store) -> None:

    store.save([row("a")._replace(origin="x"), row("b"), row("c")._replace(origin="y")])
    assert store.feed(0, 100, "x") == ([(2, "b", b"state:b"), (3, "c", b"state:c")], 3)
    assert store.feed(0, 1, "x") == ([(2, "b", b"state:b")], 2)
    assert store.feed(3, 5, "x") == ([], 3)
    assert store.feed(3, 100, "x") == ([], 3)
    store.save([row("a")])  # changed here since: x needs it now
    assert store.feed(3, 100, "x") == ([(4, "a", b"state:a")], 4)


def test_forget_origin_sends_a_repaired_peer_its_own_records_too(store: Store) -> None:

    store.save([row("a")._replace(origin="x"), row("b"), row("c")._replace(origin="y")])
    store.forget_origin("x")
    assert store.feed(0, 100, "x") == (store.changes(0, 100), 3)
    assert store.feed(0, 100, "y") == ([(1, "a", b"state:a"), (2, "b", b"state:b")], 3)
    assert store.last_seq() == 3


def test_resaved_record_moves_to_the_end_once(store: Store) -> None:
    store.save([row("a"), row("b"), row("c")])
    store.save([row("a", state=b"a-v2")])
    got = store.changes(0, 100)
    assert got == [(2, "b", b"state:b"), (3, "c", b"state:c"), (4, "a", b"a-v2")]
    assert [i for _, i, _ in got].count("a") == 1
    assert store.changes(3, 100) == [(4, "a", b"a-v2")]
    assert store.last_seq() == 4


def test_same_record_twice_in_one_save(store: Store) -> None:
    store.save([row("a", state=b"v1"), row("b"), row("a", state=b"v2")])
    assert store.state("a") == b"v2"
    assert store.changes(0, 100) == [(2, "b", b"state:b"), (3, "a", b"v2")]
    assert store.last_seq() == 3


def test_changes_paging_sees_everything_once(store: Store) -> None:
    store.save([row(f"r{i:03d}") for i in range(50)])
    store.save([row(f"r{i:03d}", state=b"again") for i in range(0, 50, 7)])
    seen: list[str] = []
    after = 0
    for _ in range(100):  # bounded: 50 records, pages of 6
        page = store.changes(after, 6)
        if not page:
            break
        assert [s for s, _, _ in page] == sorted(s for s, _, _ in page)
        assert all(s > after for s, _, _ in page)
        seen += [i for _, i, _ in page]
        after = page[-1][0]
    assert sorted(seen) == [f"r{i:03d}" for i in range(50)]
    assert after == store.last_seq()


def test_unnumbered(store: Store) -> None:
    store.save(
        [
            row("o1", "orders", needs_number=True, provisional="l/1"),
            row("o2", "orders", number="1"),
            row("q1", "quotes", needs_number=True, provisional="l/2"),
        ]
    )
    assert sorted(store.unnumbered()) == ["o1", "q1"]
    store.save([row("o1", "orders", number="2", provisional="l/1")])
    assert store.unnumbered() == ["q1"]


def test_conflicts_ordered_by_time(store: Store) -> None:
    store.save(
        [
            row("a", conflicts=((30, b"a-30"), (10, b"a-10"))),
            row("b", "orders", conflicts=((20, b"b-20"),)),
            row("c"),
        ]
    )
    store.save([row("d", conflicts=((5, b"d-5"), (40, b"d-40")))])
    assert store.conflicts() == [
        ("d", "contacts", b"d-5"),
        ("a", "contacts", b"a-10"),
        ("b", "orders", b"b-20"),
        ("a", "contacts", b"a-30"),
        ("d", "contacts", b"d-40"),
    ]


def test_resave_replaces_a_records_conflicts(store: Store) -> None:
    store.save([row("a", conflicts=((1, b"old"), (2, b"old2"))), row("b", conflicts=((3, b"b"),))])
    store.save([row("a", conflicts=((4, b"new"),))])
    assert store.conflicts() == [("b", "contacts", b"b"), ("a", "contacts", b"new")]
    store.save([row("a")])
    assert store.conflicts() == [("b", "contacts", b"b")]


def test_meta(store: Store) -> None:
    store.save(rows=[], meta={"client_id": "12345", "checkpoint:hq": "7"})
    assert store.meta("client_id") == "12345"
    assert store.meta("checkpoint:hq") == "7"
    assert store.meta("checkpoint:other") is None
    store.save(rows=[], meta={"checkpoint:hq": "9"})
    assert store.meta("checkpoint:hq") == "9"
    assert store.meta("client_id") == "12345"
    store.save([row("a")], meta={"device": "laptop-1 ø"})
    assert store.meta("device") == "laptop-1 ø"
    assert store.state("a") == b"state:a"


def test_a_save_that_need_not_be_durable_is_still_a_save(store: Store) -> None:
    store.save([], {"checkpoint:hq": "3"}, durable=False)
    assert store.meta("checkpoint:hq") == "3"
    store.save([row("a")], {"checkpoint:hq": "4"})  # and the next durable save is as ever
    assert (store.meta("checkpoint:hq"), store.state("a")) == ("4", b"state:a")


def test_rejections_ordered_by_time(store: Store) -> None:
    late = Rejection(300, "o1", "orders", "laptop-1", "travel may not edit orders")
    early = Rejection(100, "p1", "products", "laptop-2", "travel may not edit products")
    middle = Rejection(200, "c1", "contacts", "laptop-1", "travel may not delete contacts")
    for r in (late, early, middle):
        store.reject(r)
    assert store.rejections() == [early, middle, late]
    assert all(isinstance(r, Rejection) for r in store.rejections())


def test_save_accepts_a_generator(store: Store) -> None:
    store.save(row(f"g{i}") for i in range(3))
    assert store.count("contacts") == 3
    assert store.last_seq() == 3


# -- SQLite only ---------------------------------------------------------------------


def test_sqlite_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = SqliteStore(path)
    s.save([row("a", conflicts=((7, b"ep"),)), row("b", "orders", needs_number=True)])
    s.save([row("c", deleted=True)], meta={"client_id": "42"})
    s.reject(Rejection(1, "x", "orders", "laptop-1", "no"))
    s.close()

    s = SqliteStore(path)
    try:
        assert s.last_seq() == 3
        assert s.state("a") == b"state:a"
        assert s.views("contacts") == [b"view:a"]
        assert s.unnumbered() == ["b"]
        assert s.conflicts() == [("a", "contacts", b"ep")]
        assert s.meta("client_id") == "42"
        assert s.rejections() == [Rejection(1, "x", "orders", "laptop-1", "no")]
        s.save([row("d")])
        assert s.last_seq() == 4
        assert s.changes(3, 10) == [(4, "d", b"state:d")]
    finally:
        s.close()

    s = SqliteStore(path)
    try:
        assert s.last_seq() == 4
    finally:
        s.close()


def test_sqlite_last_seq_after_reopen_when_last_save_replaced_a_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = SqliteStore(path)
    s.save([row("a"), row("b")])
    s.save([row("a", state=b"v2")])
    s.close()
    s = SqliteStore(path)
    try:
        assert s.last_seq() == 3
        s.save([row("c")])
        assert [seq for seq, _, _ in s.changes(0, 10)] == [2, 3, 4]
    finally:
        s.close()


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database at all " * 200, bytes(range(256)) * 64],
    ids=["text", "binary"],
)
def test_sqlite_garbage_file_is_a_store_error(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(garbage)
    with pytest.raises(StoreDamagedError) as info:
        SqliteStore(path)
    message = str(info.value)
    assert str(path) in message
    assert f"roamsync repair {tmp_path}" in message
    assert isinstance(info.value, RoamsyncError)
    assert info.value.__cause__ is not None
    assert path.read_bytes() == garbage  # left alone for the user to recover


def test_sqlite_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "missing-dir" / "s.sqlite3")


@pytest.mark.parametrize("bad_state", [object(), None], ids=["not-bytes", "null"])
def test_sqlite_failed_save_is_atomic(tmp_path: Path, bad_state: object) -> None:
    s = SqliteStore(tmp_path / "s.sqlite3")
    try:
        s.save([row("a")], meta={"k": "1"})
        bad = RecordRow("bad", "contacts", bad_state, b"v")  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            s.save([row("b"), row("a", state=b"changed"), bad], meta={"k": "2"})
        # Nothing of the failed batch is stored; earlier data is intact.
        assert s.state("a") == b"state:a"
        assert s.state("b") is None
        assert s.state("bad") is None
        assert s.meta("k") == "1"
        assert s.last_seq() == 1
        assert s.changes(0, 10) == [(1, "a", b"state:a")]
        # And the store is still usable, with no gap in the change feed.
        s.save([row("c")])
        assert s.changes(0, 10) == [(1, "a", b"state:a"), (2, "c", b"state:c")]
    finally:
        s.close()


def test_sqlite_save_on_closed_db_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = SqliteStore(path)
    s.save([row("a")])
    s.db.close()
    with pytest.raises(StoreError):
        s.save([row("b")])
    with pytest.raises(StoreError):
        s.reject(Rejection(1, "a", "contacts", "d", "r"))
    s = SqliteStore(path)
    try:
        assert s.state("a") == b"state:a"
        assert s.state("b") is None
        assert s.last_seq() == 1
    finally:
        s.close()


def _damage_overflow_page(path: Path, blob: bytes) -> None:
    """Point the overflow chain holding the middle of ``blob`` at a page that does not exist."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    offset = data.index(blob[len(blob) // 2 : len(blob) // 2 + 64])
    page = offset - offset % page_size
    data[page : page + 4] = (0x7FFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("read", "args"), [("state", ("b",)), ("changes", (0, 10))], ids=["state", "changes"]
)
def test_sqlite_damage_found_on_read_is_a_store_error(
    tmp_path: Path, read: str, args: tuple[object, ...]
) -> None:
    path = tmp_path / "s.sqlite3"
    big = bytes(range(256)) * 80  # spills into overflow pages
    s = SqliteStore(path)
    s.save([row("a", state=b"small"), row("b", state=big)])
    s.close()
    _damage_overflow_page(path, big)
    s = SqliteStore(path, check=False)  # without the check, opening does not touch the page
    try:
        method = getattr(s, read)
        with pytest.raises(StoreDamagedError, match="roamsync repair"):
            method(*args)
    finally:
        s.close()


CHILD = """
import sys
from roamsync.peer.store import RecordRow, SqliteStore

store = SqliteStore(sys.argv[1])
for n in range(1, 100_000):
    state = b"state-%d-" % n + bytes(n % 256 for _ in range(n % 300))
    store.save([RecordRow("r%d" % n, "contacts", state, b"view")], meta={"last": str(n)})
    print("ACK", n, flush=True)
"""


def _state(n: int) -> bytes:
    return b"state-%d-" % n + bytes(n % 256 for _ in range(n % 300))


def test_sqlite_acknowledged_saves_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    wanted = 40
    acked: list[int] = []
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    watchdog = threading.Timer(30, child.kill)  # a hung child makes readline return EOF
    watchdog.start()
    try:
        for _ in range(wanted):
            line = child.stdout.readline()
            if not line:
                break
            tag, seq = line.split()
            assert tag == "ACK"
            acked.append(int(seq))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        child.stdout.close()
        assert child.stderr is not None
        err = child.stderr.read()
        child.stderr.close()
    assert acked == list(range(1, wanted + 1)), err
    assert child.returncode == -signal.SIGKILL

    s = SqliteStore(path)
    try:
        for n in acked:
            assert s.state(f"r{n}") == _state(n), n
        assert s.last_seq() >= acked[-1]
        assert int(s.meta("last") or 0) >= acked[-1]
        assert s.count("contacts") == s.last_seq()
        # The store keeps working after the crash.
        s.save([row("after-crash")])
        assert s.state("after-crash") == b"state:after-crash"
    finally:
        s.close()


def test_meta_prefix(store: Store) -> None:
    store.save([], {"log:a": "1", "log:b": "2", "loh": "x", "lo": "y", "other": "z"})
    assert store.meta_prefix("log:") == {"log:a": "1", "log:b": "2"}
    assert store.meta_prefix("nothing") == {}
    store.forget(["log:a", "absent"])
    assert store.meta_prefix("log:") == {"log:b": "2"}


def test_feed_of_only_skipped_entries_jumps_to_the_end(store: Store) -> None:

    store.save([row(f"r{i}")._replace(origin="x") for i in range(50)])
    assert store.feed(0, 10, "x") == ([], 50)  # one read, nothing to send, position at the end


def test_number_lookups_use_the_partial_indexes_and_old_indexes_go(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    SqliteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # indexes made before they were partial
        db.execute("CREATE INDEX records_number ON records (module, number)")
        db.execute("CREATE INDEX records_provisional ON records (module, provisional)")
    store = SqliteStore(path)
    try:
        names = {n for (n,) in store.db.execute("SELECT name FROM sqlite_master")}
        assert "records_number" not in names
        assert "records_provisional" not in names
        live = "SELECT view FROM records WHERE module = ? AND deleted = 0"
        sql = f"EXPLAIN QUERY PLAN {live} AND number = ? UNION {live} AND provisional = ?"
        plan = " ".join(str(r) for r in store.db.execute(sql, ("orders", "1", "orders", "1")))
        assert "records_numbered" in plan
        assert "records_provisionally_numbered" in plan
    finally:
        store.close()
