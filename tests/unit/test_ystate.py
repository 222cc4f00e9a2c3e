"""The item-level reader of a record's Yjs state agrees with pycrdt on what it shows,
and finds who wrote each value, for records written and merged by several devices."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamsync.peer.record import RecordDoc
from roamsync.peer.record.ystate import read_state

DEVICES = ("a", "b", "c")
FIELDS = ("name", "phone", "email")

step = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 2), st.sampled_from(FIELDS), st.text(max_size=8)),
    st.tuples(st.just("note"), st.integers(0, 2), st.just("notes"), st.text(max_size=12)),
    st.tuples(st.just("merge"), st.integers(0, 2), st.integers(0, 2), st.just("")),
)


def replay(steps: list[tuple[str, int, object, str]]) -> list[RecordDoc]:
    creator = RecordDoc.load(2)
    with creator.doc.transaction():
        creator.init("contacts", "a", "office", 1)
        creator.claim_client("a", "office")
        creator.put("a", "office", 1, {"name": "Acme"})
    docs = [creator] + [RecordDoc.load(2 * (i + 2), creator.encode()) for i in (0, 1)]
    t = 2
    for kind, i, x, text in steps:
        t += 1
        device = DEVICES[i]
        if kind == "put":
            with docs[i].doc.transaction():
                docs[i].claim_client(device, "office")
                docs[i].put(device, "office", t, {str(x): text})
        elif kind == "note":
            docs[i].set_note("notes", text)
        else:
            docs[int(str(x))].apply(docs[i].encode())
    return docs


@given(st.lists(step, max_size=25))
def test_the_live_values_are_what_pycrdt_shows(steps: list[tuple[str, int, object, str]]) -> None:
    for rec in replay(steps):
        state = read_state(rec.encode())
        slots = {k: s.value for k, s in state.live("slots").items()}
        assert slots == orjson.loads(str(rec.slots))
        meta = {k: s.value for k, s in state.live("meta").items()}
        expected = orjson.loads(str(rec.meta))
        assert meta == {k: float(v) if isinstance(v, int) else v for k, v in expected.items()}
        for device, item in state.live("slots").items():
            assert state.chain_ends_live("slots", device)
            writer = rec.author(item.client)
            assert writer is not None
            assert writer[0] == device  # each device's slot is written by its own client
        for client in rec.state_vector():
            if client % 2 == 0:  # a slot lane: its last item is its device's slot
                top = state.top(client)
                assert state.parent(top) == ("slots", rec.author(client)[0])  # type: ignore[index]


def test_a_deleted_value_without_a_successor_is_seen() -> None:
    rec = replay([("put", 1, "phone", "1")])[1]
    state = read_state(rec.encode())
    assert state.chain_ends_live("slots", "b")
    with rec.doc.transaction():
        del rec.slots["b"]
    state = read_state(rec.encode())
    assert "b" not in state.live("slots")
    assert not state.chain_ends_live("slots", "b")


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"truncated|kind|varuint|bytes after"):
        read_state(b"\x01\x01\x02\x00\xff")
