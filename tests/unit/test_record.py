"""roamsync.peer.record: a record's CRDT document keeps every concurrent write."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text

from roamsync.peer.core.priority import DAY, Episode, Version, Write
from roamsync.peer.record import (
    RecordDoc,
    decode_episode,
    decode_slot,
    decode_state_vector,
    encode_episode,
    encode_slot,
)

T0 = 1_800_000_000_000 << 16  # a hybrid-logical-clock time


def new_record(
    client_id: int = 100,
    device: str = "dev-a",
    role: str = "office",
    module: str = "contacts",
    values: dict[str, object] | None = None,
) -> RecordDoc:
    rec = RecordDoc.load(client_id)
    with rec.doc.transaction():
        rec.init(module, device, role, T0)
        rec.claim_client(device, role)
        rec.put(device, role, T0, values or {"name": "Acme"})  # type: ignore[arg-type]
    return rec


def exchange(a: RecordDoc, b: RecordDoc) -> None:
    """Send each side's full state to the other."""
    ua, ub = a.encode(), b.encode()
    a.apply(ub)
    b.apply(ua)


def by_device(rec: RecordDoc, field: str) -> dict[str, Write]:
    return {w.device: w for w in rec.writes() if w.field == field}


def sorted_writes(rec: RecordDoc) -> list[Write]:
    return sorted(rec.writes(), key=lambda w: (w.device, w.field))


# -- state vectors ----------------------------------------------------------------------


def test_state_vector_of_an_empty_doc() -> None:
    assert decode_state_vector(Doc(client_id=3).get_state()) == {}
    assert RecordDoc.load(4).state_vector() == {}


@pytest.mark.parametrize("client_id", [1, 127, 128, 300, 2**31 + 5, 2**40 + 7])
def test_state_vector_of_one_client(client_id: int) -> None:
    doc: Doc[Text] = Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    text += "abc"
    text += "defg"
    assert decode_state_vector(doc.get_state()) == {client_id: 7}


def test_state_vector_of_several_clients() -> None:
    docs: list[Doc[Text]] = [Doc(client_id=c) for c in (5, 1000, 2**33)]
    for i, doc in enumerate(docs):
        text = doc.get("t", type=Text)
        text += "x" * (i + 1) * 50
    merged: Doc[Text] = Doc(client_id=9)
    for doc in docs:
        merged.apply_update(doc.get_update())
    assert decode_state_vector(merged.get_state()) == {5: 50, 1000: 100, 2**33: 150}


def test_record_state_vector_grows_with_writes() -> None:
    rec = new_record(client_id=78)
    before = rec.state_vector()
    assert set(before) == {78}
    with rec.doc.transaction():
        rec.put("dev-a", "office", T0 + 1, {"phone": "1"})
    after = rec.state_vector()
    assert after[78] > before[78]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",  # not even a count
        b"\x80",  # truncated varuint
        b"\x01\x05",  # one entry announced, half an entry given
        b"\x01\x05\x06\x07",  # trailing value
        b"\x02\x01\x01",  # two entries announced, one half given
        b"\x01\x05\xff",  # truncated clock
        b"\x05",
        b"\xff\xff\xff",
    ],
)
def test_state_vector_garbage_is_value_error(garbage: bytes) -> None:
    with pytest.raises(ValueError, match=r"state vector|varuint"):
        decode_state_vector(garbage)


# -- write and episode encoding -------------------------------------------------------------

EPISODE = Episode(
    field="name",
    versions=(
        Version("dev-a", "office", T0 + 1, "Acme"),
        Version("dev-b", "travel", T0 + 2, None),
    ),
    winner=Version("dev-b", "travel", T0 + 2, None),
    policy="latest",
    time=T0 + 3,
    open=False,
    resolved_by="dev-c",
)
OPEN_EPISODE = Episode(
    field="total",
    versions=(Version("hq", "main", 5, "1.00"), Version("l-1", "travel", 6, "2.00")),
    winner=Version("hq", "main", 5, "1.00"),
    policy="central",
    time=6,
    open=True,
)


@pytest.mark.parametrize("episode", [EPISODE, OPEN_EPISODE])
def test_episode_round_trip(episode: Episode) -> None:
    assert decode_episode(encode_episode(episode)) == episode


def slot_round_trip(device: str, role: str, writes: list[Write]) -> list[Write]:
    raw = encode_slot(role, {w.field: w for w in writes})
    assert isinstance(raw, str)
    return decode_slot(device, raw)


@pytest.mark.parametrize(
    ("device", "role", "writes"),
    [
        ("dev-a", "office", []),
        ("dev-a", "office", [Write("name", "dev-a", "office", T0, "Acme")]),
        (
            "laptop-1",
            "travel",
            [
                Write("phone", "laptop-1", "travel", T0 + 5, None, {"dev-a": T0}),
                Write("hours", "laptop-1", "travel", 1, 7.5, {"a": 3, "b": 4}, policy="local"),
                Write("done", "laptop-1", "travel", 1, True, {}, None, (EPISODE, OPEN_EPISODE)),
                Write("_deleted", "laptop-1", "travel", 9, True, {"x": 1}, "manual", (EPISODE,)),
            ],
        ),
        ("dev ø 😀", "main", [Write("name", "dev ø 😀", "main", 2, "ø 😀\x1f", {})]),
    ],
)
def test_slot_round_trip(device: str, role: str, writes: list[Write]) -> None:
    assert slot_round_trip(device, role, writes) == writes


json_values = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
versions = st.builds(
    Version, st.text(min_size=1, max_size=8), st.sampled_from(["main", "office", "travel"]),
    st.integers(0, 2**62), json_values,
)  # fmt: skip
episodes = st.builds(
    Episode,
    field=st.sampled_from(["name", "phone", "_deleted"]),
    versions=st.lists(versions, min_size=1, max_size=3).map(tuple),
    winner=versions,
    policy=st.sampled_from(["central", "local", "latest", "manual", "delete"]),
    time=st.integers(0, 2**62),
    open=st.booleans(),
    resolved_by=st.none() | st.text(max_size=8),
)


@st.composite
def slots(draw: st.DrawFn) -> tuple[str, str, list[Write]]:
    device = draw(st.text(min_size=1, max_size=12))
    role = draw(st.sampled_from(["main", "office", "travel"]))
    names = draw(st.lists(st.sampled_from(["name", "phone", "notes", "_deleted"]), unique=True))
    writes = [
        Write(
            field=name,
            device=device,
            role=role,
            t=draw(st.integers(0, 2**62)),
            value=draw(json_values | st.floats(allow_nan=False, allow_infinity=False)),
            seen=draw(st.dictionaries(st.text(max_size=8), st.integers(0, 2**62), max_size=4)),
            policy=draw(st.none() | st.sampled_from(["central", "local", "latest", "manual"])),
            closed=tuple(draw(st.lists(episodes, max_size=3))),
        )
        for name in names
    ]
    return device, role, writes


@settings(max_examples=100, deadline=None)
@given(slots())
def test_slot_round_trip_property(slot: tuple[str, str, list[Write]]) -> None:
    device, role, writes = slot
    assert slot_round_trip(device, role, writes) == writes


# -- RecordDoc ------------------------------------------------------------------------------


def test_new_record_metadata_and_first_write() -> None:
    rec = new_record(client_id=110, device="laptop-1", role="travel", module="orders",
                     values={"contact": "c-1", "status": "draft"})  # fmt: skip
    assert rec.module == "orders"
    assert rec.creator == "laptop-1"
    assert rec.creator_role == "travel"
    assert rec.created_t == T0
    assert sorted((w.field, w.value, w.device, w.role) for w in rec.writes()) == [
        ("contact", "c-1", "laptop-1", "travel"),
        ("status", "draft", "laptop-1", "travel"),
    ]
    assert rec.vector() == {"laptop-1": T0}
    assert rec.notes() == {"notes": ""}


def test_load_from_encoded_state() -> None:
    rec = new_record()
    copy = RecordDoc.load(200, rec.encode())
    assert copy.module == "contacts"
    assert sorted_writes(copy) == sorted_writes(rec)
    assert copy.doc.client_id == 200
    assert RecordDoc.load(200, b"").writes() == []
    assert RecordDoc.load(200, None).module is None


def test_author_after_claim_client() -> None:
    base = new_record(client_id=100)
    assert base.author(100) == ("dev-a", "office")
    assert base.author(base.notes_client_id) == ("dev-a", "office")
    other = RecordDoc.load(200, base.encode())
    assert other.author(200) is None
    with other.doc.transaction():
        other.claim_client("laptop-1", "travel")
        other.put("laptop-1", "travel", T0 + 1, {"phone": "5"})
    assert other.author(200) == ("laptop-1", "travel")
    assert other.author(other.notes_client_id) == ("laptop-1", "travel")
    assert other.author(100) == ("dev-a", "office")
    assert other.author(300) is None
    # Claiming again (e.g. after a role change) does not rewrite the first claim.
    with other.doc.transaction():
        other.claim_client("laptop-1", "office")
    assert other.author(200) == ("laptop-1", "travel")
    # The claim travels with the record.
    exchange(base, other)
    assert base.author(200) == ("laptop-1", "travel")


def test_put_overwrites_own_slot_and_records_seen() -> None:
    rec = new_record()
    with rec.doc.transaction():
        rec.put("dev-a", "office", T0 + 1, {"name": "Acme 2"})
    assert [(w.device, w.value) for w in rec.writes() if w.field == "name"] == [("dev-a", "Acme 2")]
    other = RecordDoc.load(200, rec.encode())
    with other.doc.transaction():
        other.claim_client("dev-b", "office")
        other.put("dev-b", "office", T0 + 2, {"name": "Acme 3"})
    mine = by_device(other, "name")["dev-b"]
    assert mine.seen == {"dev-a": T0 + 1}
    assert mine.closed == ()  # it had seen dev-a's write: no conflict


def test_put_keeps_the_devices_other_fields() -> None:
    rec = new_record(values={"name": "Acme", "phone": "1"})
    with rec.doc.transaction():
        rec.put("dev-a", "office", T0 + 1, {"phone": "2"})
    assert {w.field: (w.value, w.t) for w in rec.writes()} == {
        "name": ("Acme", T0),
        "phone": ("2", T0 + 1),
    }


def concurrent_pair(client_a: int = 100, client_b: int = 200) -> tuple[RecordDoc, RecordDoc]:
    base = new_record(client_id=client_a, device="dev-a")
    state = base.encode()
    a = RecordDoc.load(client_a, state)
    b = RecordDoc.load(client_b, state)
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 10, {"name": "From A"})
    with b.doc.transaction():
        b.claim_client("dev-b", "office")
        b.put("dev-b", "office", T0 + 11, {"name": "From B"})
    exchange(a, b)
    return a, b


def assert_both_writes_survive(a: RecordDoc, b: RecordDoc) -> None:
    for rec in (a, b):
        writes = by_device(rec, "name")
        assert {d: w.value for d, w in writes.items()} == {"dev-a": "From A", "dev-b": "From B"}
        assert writes["dev-a"].t == T0 + 10
        assert writes["dev-b"].t == T0 + 11
        # Neither had seen the other's write: they are concurrent.
        assert "dev-b" not in writes["dev-a"].seen
        assert writes["dev-b"].seen.get("dev-a", -1) < T0 + 10
    assert sorted_writes(a) == sorted_writes(b)
    assert a.vector() == b.vector() == {"dev-a": T0 + 10, "dev-b": T0 + 11}


def test_concurrent_puts_both_survive_on_both_sides() -> None:
    a, b = concurrent_pair()
    assert_both_writes_survive(a, b)


def test_put_that_saw_both_closes_the_episode() -> None:
    a, b = concurrent_pair()
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 20, {"name": "Settled"})
    closer = by_device(a, "name")["dev-a"]
    assert closer.seen == {"dev-b": T0 + 11}
    assert len(closer.closed) == 1
    episode = closer.closed[0]
    assert episode.field == "name"
    assert not episode.open
    assert episode.resolved_by == "dev-a"
    assert episode.time == T0 + 20
    assert episode.policy == "central"
    assert episode.versions == (
        Version("dev-a", "office", T0 + 10, "From A"),
        Version("dev-b", "office", T0 + 11, "From B"),
    )
    assert episode.winner == Version("dev-b", "office", T0 + 11, "From B")  # later time wins
    # The closed episode travels to the other side with the write.
    exchange(a, b)
    assert by_device(b, "name")["dev-a"].closed == (episode,)
    # dev-b's own, now superseded, write is still kept.
    assert by_device(b, "name")["dev-b"].value == "From B"


def test_put_of_another_field_does_not_close_the_episode() -> None:
    a, _ = concurrent_pair()
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 20, {"phone": "123"})
    assert by_device(a, "phone")["dev-a"].closed == ()
    assert by_device(a, "name")["dev-a"].closed == ()


def test_closed_episodes_expire_after_retention() -> None:
    a, _ = concurrent_pair()
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 20, {"name": "Settled"})
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 21, {"name": "Again"})
    assert len(by_device(a, "name")["dev-a"].closed) == 1  # kept while young
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 20 + 8 * DAY, {"name": "Much later"})
    assert by_device(a, "name")["dev-a"].closed == ()


def test_three_devices_concurrently() -> None:
    base = new_record(client_id=100)
    state = base.encode()
    recs = [RecordDoc.load(c, state) for c in (1000, 2000, 3000)]
    for i, rec in enumerate(recs):
        with rec.doc.transaction():
            rec.claim_client(f"dev-{i}", "office")
            rec.put(f"dev-{i}", "office", T0 + 100 + i, {"email": f"{i}@x"})
    updates = [r.encode() for r in recs]
    for rec in recs:
        for u in updates:
            rec.apply(u)
    for rec in recs:
        assert {d: w.value for d, w in by_device(rec, "email").items()} == {
            "dev-0": "0@x",
            "dev-1": "1@x",
            "dev-2": "2@x",
        }


# -- notes ----------------------------------------------------------------------------------


def note(rec: RecordDoc) -> str:
    return str(rec.doc.get("note:notes", type=Text))


def note_pair(initial: str) -> tuple[RecordDoc, RecordDoc]:
    base = new_record(client_id=100)
    base.set_note("notes", initial)
    state = base.encode()
    b = RecordDoc.load(200, state)
    with b.doc.transaction():
        b.claim_client("dev-b", "office")
    return RecordDoc.load(100, state), b


@pytest.mark.parametrize(
    ("initial", "left", "right", "merged"),
    [
        ("call back", "URGENT: call back", "call back tomorrow", "URGENT: call back tomorrow"),
        ("héllo wörld", "» héllo wörld", "héllo wörld é🎉", "» héllo wörld é🎉"),
        ("😀😀😀", "🐍😀😀😀", "😀😀😀🎉", "🐍😀😀😀🎉"),
        ("a b c", "a B c", "a b C", "a B C"),
        ("Zürich 😀 Oslo", "Zürich 😀 Bergen", "Genève Zürich 😀 Oslo", "Genève Zürich 😀 Bergen"),
        ("", "", "é", "é"),
    ],
)
def test_concurrent_note_edits_merge(initial: str, left: str, right: str, merged: str) -> None:
    a, b = note_pair(initial)
    a.set_note("notes", left)
    b.set_note("notes", right)
    assert note(a) == left
    assert note(b) == right
    exchange(a, b)
    assert note(a) == note(b) == merged
    assert a.notes() == {"notes": merged}


def test_concurrent_note_edits_and_puts_together() -> None:
    a, b = note_pair("shared")
    with a.doc.transaction():
        a.put("dev-a", "office", T0 + 10, {"name": "From A"})
    a.set_note("notes", "A: shared")
    with b.doc.transaction():
        b.put("dev-b", "office", T0 + 11, {"name": "From B"})
    b.set_note("notes", "shared :B")
    exchange(a, b)
    assert_both_writes_survive(a, b)
    assert note(a) == note(b) == "A: shared :B"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("", "é"),
        ("é", ""),
        ("abc", "abc"),
        ("aaa", "aa"),
        ("aa", "aaa"),
        ("é😀é", "é😀😀é"),
        ("é😀é", "éé"),
        ("ééé", "éxé"),
        ("a😀b", "a🐍b"),
        ("naïve café", "naive cafe"),
        ("e\u0301", "e\u0301\u0301"),
    ],
)
def test_set_note_on_one_doc(old: str, new: str) -> None:
    rec = new_record()
    rec.set_note("notes", old)
    rec.set_note("notes", new)
    assert note(rec) == new
    assert RecordDoc.load(500, rec.encode()).notes() == {"notes": new}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="aé😀 b\n🐍ø", max_size=12), min_size=1, max_size=6))
def test_set_note_any_sequence_of_texts(texts: list[str]) -> None:
    rec = new_record()
    for text in texts:
        rec.set_note("notes", text)
        assert note(rec) == text


def test_set_note_writes_in_the_notes_lane() -> None:
    rec = new_record(client_id=100)
    rec.set_note("notes", "hello")
    assert set(rec.state_vector()) == {100, rec.notes_client_id}
    assert rec.notes_client_id == 101


def test_set_note_edits_only_the_changed_middle() -> None:
    rec = new_record()
    rec.set_note("notes", "x" * 1000)
    before = len(rec.encode())
    rec.set_note("notes", "x" * 500 + "é" + "x" * 500)
    # One inserted character, not a rewritten text.
    assert len(rec.encode()) - before < 60


# -- storage stays bounded ------------------------------------------------------------------


def test_repeated_puts_keep_the_document_small() -> None:
    rec = new_record()
    first = len(rec.encode())
    for i in range(2000):
        with rec.doc.transaction():
            rec.put("dev-a", "office", T0 + 1 + i, {"name": f"Acme {i}", "phone": str(i)})
    size = len(rec.encode())
    # Measured: about 310 bytes; a record that kept its history would be ~100 KB.
    assert size < 2048, size
    assert size < first + 512, (first, size)
    assert {w.field: w.value for w in rec.writes()} == {"name": "Acme 1999", "phone": "1999"}
    assert sorted_writes(RecordDoc.load(900, rec.encode())) == sorted_writes(rec)


def test_puts_interleaved_with_note_edits_stay_small() -> None:
    rec = new_record()
    for i in range(300):
        with rec.doc.transaction():
            rec.put("dev-a", "office", T0 + 1 + i, {"name": f"Acme {i}"})
        rec.set_note("notes", f"call back {i % 3}")
    size = len(rec.encode())
    # Measured: about 400 bytes.
    assert size < 2048, size
    assert rec.notes() == {"notes": "call back 2"}


def test_slots_map_has_one_entry_per_device() -> None:
    a, b = concurrent_pair()
    for i in range(100):  # taking turns, each seeing the other's last write
        with a.doc.transaction():
            a.put("dev-a", "office", T0 + 100 + 2 * i, {"name": f"a{i}"})
        exchange(a, b)
        with b.doc.transaction():
            b.put("dev-b", "office", T0 + 101 + 2 * i, {"name": f"b{i}"})
        exchange(a, b)
    slots: Map[str] = a.doc.get("slots", type=Map)
    assert sorted(slots.keys()) == ["dev-a", "dev-b"]
    assert sorted_writes(a) == sorted_writes(b)
    # Measured: about 700 bytes (the one closed episode of concurrent_pair rides along).
    assert len(a.encode()) < 4096, len(a.encode())


def test_odd_client_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="notes lane"):
        RecordDoc.load(3)
