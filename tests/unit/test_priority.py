"""The priority layer as pure functions: tables, and properties over many orderings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamsync.peer.core.priority import (
    DAY,
    DELETED,
    RETENTION,
    Episode,
    Version,
    Write,
    close_episode,
    default_winner,
    heads,
    is_allowed,
    open_episode,
    pick,
    resolve,
    resolve_one_writer,
    retained,
    supersedes,
)
from roamsync.schema import JsonValue


def w(device: str, t: int, value: JsonValue = None, role: str = "office", **seen: int) -> Write:
    return Write("phone", device, role, t, value if value is not None else f"{device}@{t}", seen)


def test_supersedes_by_version_vector_and_own_history() -> None:
    a1, a2 = w("a", 1), w("a", 5)
    b = w("b", 3, a=1)
    assert supersedes(a2, a1)
    assert not supersedes(a1, a2)
    assert supersedes(b, a1)
    assert not supersedes(b, a2)
    assert not supersedes(a2, b)


@pytest.mark.parametrize(
    ("writes", "winner"),
    [
        ([w("hq", 1, role="main"), w("lap", 9, role="travel")], "hq"),
        ([w("lap", 1, role="travel"), w("hq", 9, role="main")], "hq"),
        ([w("a", 3), w("b", 7)], "b"),
        ([w("b", 7), w("a", 3)], "b"),
        ([w("a", 7), w("b", 7)], "b"),  # equal time: greater device id
        ([w("hq", 1, role="main"), w("a", 8), w("b", 9)], "hq"),
    ],
)
def test_default_winner(writes: list[Write], winner: str) -> None:
    assert default_winner(writes).device == winner


def test_heads_drop_what_someone_had_seen() -> None:
    a, b = w("a", 1), w("b", 2)
    c = w("c", 3, a=1)
    assert [h.device for h in heads([a, b, c])] == ["b", "c"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("central", "hq"), ("local", "lap"), ("latest", "lap"), ("manual", None)],
)
def test_pick_by_policy(policy: str, expected: str | None) -> None:
    candidates = [w("hq", 1, role="main"), w("lap", 5, role="travel"), w("office", 3)]
    chosen = pick(candidates, policy, "lap")
    assert (chosen.device if chosen else None) == expected


def test_pick_local_without_a_local_value_keeps_the_default() -> None:
    candidates = [w("hq", 1, role="main"), w("office", 3)]
    chosen = pick(candidates, "local", "lap")
    assert chosen is not None
    assert chosen.device == "hq"
    with pytest.raises(ValueError, match="policy"):
        pick(candidates, "coin-flip", "lap")


def test_resolve_reports_an_open_conflict_with_every_value() -> None:
    hq, lap = w("hq", 1, "H", role="main"), w("lap", 2, "L", role="travel")
    got = resolve("contacts", "hq", [hq, lap])
    assert got.values["phone"] == "H"
    [episode] = got.conflicts
    assert episode.open
    assert episode.policy == "central"
    assert {v.value for v in episode.versions} == {"H", "L"}
    assert episode.winner.value == "H"


def test_a_closing_write_carries_the_episode() -> None:
    hq, lap = w("hq", 1, "H", role="main"), w("lap", 2, "L", role="travel")
    ep = open_episode("phone", [hq, lap])
    assert ep is not None
    closer = Write("phone", "lap", "travel", 3, "L", {"hq": 1}, policy="local")
    closed = close_episode(ep, closer, lap)
    closer = Write("phone", "lap", "travel", 3, "L", {"hq": 1}, "local", (closed,))
    got = resolve("contacts", "hq", [hq, closer])
    assert got.values["phone"] == "L"
    [episode] = got.conflicts
    assert (episode.open, episode.policy, episode.resolved_by) == (False, "local", "lap")


def test_delete_wins_over_concurrent_edits_and_logs_them() -> None:
    create = Write("name", "a", "office", 1, "Acme")
    delete = Write(DELETED, "a", "office", 5, True, {"b": 0})
    edit = Write("phone", "b", "office", 4, "555", {"a": 1})
    got = resolve("contacts", "a", [create, delete, edit])
    assert got.deleted
    [episode] = got.conflicts
    assert (episode.field, episode.policy, episode.winner.device) == ("phone", "delete", "a")


def test_edits_the_deleter_had_seen_are_not_delete_conflicts() -> None:
    edit = Write("phone", "b", "office", 4, "555")
    delete = Write(DELETED, "a", "office", 5, True, {"b": 4})
    assert resolve("contacts", "a", [edit, delete]).conflicts == []


@pytest.mark.parametrize(
    ("module", "creator", "write", "ok"),
    [
        ("contacts", "hq", Write(DELETED, "lap", "travel", 1, True), False),
        ("contacts", "hq", Write("phone", "lap", "travel", 1, "1"), True),
        ("products", "hq", Write("price", "lap", "travel", 1, "1.00"), False),
        ("orders", "hq", Write("status", "lap", "travel", 1, "x"), False),
        ("orders", "lap", Write("status", "lap", "travel", 1, "x"), True),
        ("orders", "lap", Write(DELETED, "lap", "travel", 1, True), True),
        ("products", "hq", Write("price", "office", "office", 1, "1.00"), True),
    ],
)
def test_matrix_at_merge(module: str, creator: str, write: Write, ok: bool) -> None:
    assert is_allowed(module, creator, write) is ok
    got = resolve(module, creator, [write])
    assert (got.rejected == []) is ok


def test_retention_keeps_open_episodes_and_drops_old_closed_ones() -> None:
    v = Version("a", "office", 1, "x")
    old = Episode("phone", (v,), v, "central", time=1)
    fresh = Episode("phone", (v,), v, "central", time=RETENTION)
    stale_open = Episode("email", (v,), v, "central", time=1, open=True)
    assert retained([old, fresh, stale_open], now=RETENTION + DAY) == [fresh, stale_open]


# -- properties ------------------------------------------------------------------------

devices = st.sampled_from(["hq", "a", "b", "c"])


@st.composite
def histories(draw: st.DrawFn) -> list[Write]:
    """Writes to one field from a few devices, each having seen a random earlier subset."""
    writes: list[Write] = []
    for t in range(1, draw(st.integers(1, 8)) + 1):
        device = draw(devices)
        earlier = [x for x in writes if x.device != device]
        seen_ix = draw(st.sets(st.integers(0, max(0, len(earlier) - 1)))) if earlier else set()
        seen: dict[str, int] = {}
        for i in seen_ix:
            seen[earlier[i].device] = max(seen.get(earlier[i].device, 0), earlier[i].t)
        role = "main" if device == "hq" else "office"
        writes = [x for x in writes if x.device != device]  # a slot keeps the latest write
        writes.append(Write("phone", device, role, t, f"{device}{t}", seen))
    return writes


@given(histories(), st.randoms())
def test_resolution_does_not_depend_on_order(writes: list[Write], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(writes)
    rnd.shuffle(shuffled)
    a, b = resolve("contacts", "hq", writes), resolve("contacts", "hq", shuffled)
    assert a.values == b.values
    assert a.conflicts == b.conflicts


@given(histories())
def test_the_winner_is_a_head_and_main_wins_when_among_them(writes: list[Write]) -> None:
    hs = heads(writes)
    got = resolve("contacts", "hq", writes)
    assert got.values["phone"] in {h.value for h in hs}
    main_heads = [h for h in hs if h.role == "main"]
    if main_heads:
        assert got.values["phone"] == main_heads[0].value
    else:
        latest = max(h.t for h in hs)
        assert got.values["phone"] in {h.value for h in hs if h.t == latest}
    assert got.latest == max(w.t for w in writes)  # the clock observes every write


@given(histories())
def test_every_concurrent_value_is_visible(writes: list[Write]) -> None:
    hs = heads(writes)
    got = resolve("contacts", "hq", writes)
    if len(hs) > 1:
        [episode] = [e for e in got.conflicts if e.open]
        assert {v.value for v in episode.versions} == {h.value for h in hs}
    else:
        assert not [e for e in got.conflicts if e.open]


@given(
    st.sampled_from(["contacts", "orders", "products", "devices"]),
    st.sampled_from(["main", "office", "travel"]),
    st.booleans(),
    st.dictionaries(
        st.sampled_from(["name", "phone", "email", "status", DELETED]),
        st.tuples(st.sampled_from([None, True, False, "", "a", "bc"]), st.integers(0, 9)),
        max_size=5,
    ),
)
def test_one_writer_shortcut_agrees_with_resolve(
    module: str, role: str, own: bool, fields: dict[str, tuple[JsonValue, int]]
) -> None:
    creator = "dev" if own else "someone"
    values = {name: value for name, (value, _) in fields.items()}
    latest = max((t for _, t in fields.values()), default=0)
    quick = resolve_one_writer(module, creator, "dev", role, values, latest)
    writes = [Write(name, "dev", role, t, value) for name, (value, t) in fields.items()]
    full = resolve(module, creator, writes)
    if quick is None:  # only where the full rule has more to do
        assert full.deleted or full.rejected or full.conflicts
    else:
        assert quick == full
