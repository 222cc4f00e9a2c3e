"""roamsync.transport.protocol: frames encode, decode and refuse malformed input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamsync.schema import ProtocolError, RoamsyncError
from roamsync.transport.protocol import (
    ACK,
    CHANGES,
    ERROR,
    HELLO,
    MAX_FRAME,
    MAX_ID,
    MAX_ITEMS,
    PENDING,
    VERSION,
    Ack,
    Changes,
    Error,
    Hello,
    Message,
    Pending,
    decode,
    encode,
    negotiate,
)

from fuzzing import varuint

uint = varuint  # a varuint, written independently of the module under test


def chunk(data: bytes) -> bytes:
    return uint(len(data)) + data


def changes_frame(upto: int, items: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    body = b"".join(chunk(i) + chunk(u) for i, u in items)
    return bytes([CHANGES]) + uint(upto) + uint(len(items) if count is None else count) + body


def hello_frame(obj: object) -> bytes:
    return bytes([HELLO]) + orjson.dumps(obj)


def assert_refused(frame: bytes, match: str | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError, match=match) as info:
        decode(frame)
    return info.value


# -- round trips -----------------------------------------------------------------

ROUND_TRIPS: list[Message] = [
    Hello("laptop-1", "travel"),
    Hello("hq", "main", "Acme AS", (1, 2, 7)),
    Hello("kontor-æøå", "office", "Firma 😀", (VERSION,)),
    Changes(0, ()),
    Changes(2**40, ()),
    Changes(5, (("rec-1", b""),)),
    Changes(17, tuple((f"rec-{i:05d}", bytes([i % 256]) * (i % 7)) for i in range(500))),
    Changes(1, (("big", bytes(range(256)) * 8192),)),  # 2 MiB update
    Changes(3, (("x" * MAX_ID, b"\x00\x80\xff"),)),
    Ack(0),
    Ack(127),
    Ack(128),
    Pending(0),
    Pending(100_000),
    Ack(2**63 - 1),
    Error(""),
    Error("store full: ø 😀\n"),
]


@pytest.mark.parametrize("msg", ROUND_TRIPS, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    frame = encode(msg)
    assert isinstance(frame, bytes)
    assert decode(frame) == msg
    assert encode(decode(frame)) == frame


def test_frame_starts_with_its_type() -> None:
    assert encode(Hello("a", "main"))[0] == HELLO
    assert encode(Changes(1, ()))[0] == CHANGES
    assert encode(Ack(1))[0] == ACK
    assert encode(Error("x"))[0] == ERROR


def test_changes_wire_layout() -> None:
    msg = Changes(300, (("ab", b"\x01\x02"),))
    assert encode(msg) == bytes([CHANGES, 0xAC, 0x02, 1, 2]) + b"ab" + bytes([2, 1, 2])


def test_decode_accepts_bytearray() -> None:
    frame = bytearray(encode(Ack(9)))
    assert decode(frame) == Ack(9)  # type: ignore[arg-type]  # typed bytes, takes any buffer


def test_hello_company_defaults_to_empty() -> None:
    assert decode(hello_frame({"device": "d", "role": "office", "versions": [1]})) == Hello(
        "d", "office", "", (1,)
    )


@pytest.mark.parametrize("msg", [Ack(-1), Changes(-1, ())])
def test_encode_refuses_negative_integers(msg: Message) -> None:
    with pytest.raises(ValueError, match="negative"):
        encode(msg)


@pytest.mark.parametrize(
    "msg",
    [
        Changes(1, (("", b"x"),)),
        Changes(1, (("é", b"x"),)),
        Changes(1, (("a" * 65, b"x"),)),
        Changes(1, tuple((f"r{i}", b"") for i in range(10_001))),
        Hello("d", "office", "", ()),
    ],
    ids=["empty-id", "non-ascii-id", "long-id", "too-many", "no-versions"],
)
def test_encode_refuses_what_decode_refuses(msg: Message) -> None:
    with pytest.raises(ValueError, match=r"id|items|version"):
        encode(msg)


# -- negotiate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ((1,), (1,), 1),
        ((1, 2, 3), (2, 3, 4), 3),
        ((3, 1), (1, 3, 5), 3),
        ((1, 2), (2,), 2),
        ((5, 1), (1,), 1),
    ],
)
def test_negotiate_picks_highest_common(
    mine: tuple[int, ...], theirs: tuple[int, ...], expected: int
) -> None:
    assert negotiate(mine, theirs) == expected
    assert negotiate(theirs, mine) == expected


@pytest.mark.parametrize(("mine", "theirs"), [((1,), (2,)), ((1, 2), (3, 4)), ((1,), ())])
def test_negotiate_without_common_version(mine: tuple[int, ...], theirs: tuple[int, ...]) -> None:
    with pytest.raises(ProtocolError, match="no common protocol version"):
        negotiate(mine, theirs)


# -- malformed frames -----------------------------------------------------------------


def test_empty_frame() -> None:
    err = assert_refused(b"", "empty")
    assert isinstance(err, RoamsyncError)


@pytest.mark.parametrize("kind", [0, 6, 9, 0x7F, 0xFF])
def test_unknown_type(kind: int) -> None:
    assert_refused(bytes([kind]) + encode(Ack(1))[1:], "unknown message type")


def test_frame_too_large() -> None:
    frame = bytes([ERROR]) + b"x" * MAX_FRAME
    assert_refused(frame, "exceeds")


VALID_CHANGES = encode(Changes(1000, (("rec-1", b"\x01\x02\x03"), ("rec-22", b""), ("r", b"z"))))


@pytest.mark.parametrize("cut", range(1, len(VALID_CHANGES)))
def test_truncated_changes_at_every_cut(cut: int) -> None:
    assert_refused(VALID_CHANGES[:cut])


def test_changes_header_only_is_refused() -> None:
    assert_refused(bytes([CHANGES]), "truncated")


@pytest.mark.parametrize("cut", range(1, len(encode(Ack(2**40)))))
def test_truncated_ack(cut: int) -> None:
    assert_refused(encode(Ack(2**40))[:cut], "truncated")


@pytest.mark.parametrize(
    "frame",
    [
        VALID_CHANGES + b"\x00",
        encode(Changes(1, ())) + b"junk",
        encode(Ack(5)) + b"\x01",
    ],
)
def test_trailing_bytes(frame: bytes) -> None:
    assert_refused(frame, "trailing")


def test_too_many_items() -> None:
    assert_refused(changes_frame(1, [], count=MAX_ITEMS + 1), "exceeds")
    assert_refused(changes_frame(1, [], count=2**62), "exceeds")


def test_max_items_is_allowed() -> None:
    items = [(f"r{i}".encode(), b"") for i in range(MAX_ITEMS)]
    msg = decode(changes_frame(1, items))
    assert isinstance(msg, Changes)
    assert len(msg.items) == MAX_ITEMS


def test_varuint_too_long() -> None:
    assert_refused(bytes([ACK]) + b"\xff" * 20 + b"\x01", "too long")


@pytest.mark.parametrize(
    "record_id",
    [b"", b"x" * (MAX_ID + 1), b"x" * 1000],
    ids=["empty", "max+1", "1000"],
)
def test_record_id_length_out_of_range(record_id: bytes) -> None:
    assert_refused(changes_frame(1, [(record_id, b"u")]), "length")


@pytest.mark.parametrize("record_id", ["é".encode(), "rec-😀".encode(), b"\xff\xfe", b"a\x80"])
def test_record_id_not_ascii(record_id: bytes) -> None:
    assert_refused(changes_frame(1, [(record_id, b"u")]), "ASCII")


def test_item_length_beyond_frame() -> None:
    frame = bytes([CHANGES]) + uint(1) + uint(1) + chunk(b"rec") + uint(2**40) + b"abc"
    assert_refused(frame, "truncated")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b"42",
        b'"hello"',
        b"{}",
        b'{"device": "d", "role": "r"}',
        b'{"role": "r", "versions": [1]}',
        b'{"device": "d", "versions": [1]}',
        b'{"device": "d", "role": "r", "versions": []}',
        b'{"device": "d", "role": "r", "versions": 1}',
        b'{"device": "d", "role": "r", "versions": null}',
        b'{"device": "d", "role": "r", "versions": ["x"]}',
        b'{"device": "d", "role": "r", "versions": [null]}',
        b'{"device": "d", "role": "r", "versions": [[1]]}',
        b'{"device": "d", "role": "r", "versions": [1e999]}',
        b'{"device": 5, "role": "r", "versions": [1]}',
        b'{"device": "d", "role": null, "versions": [1]}',
        b'{"device": "d", "role": "r", "company": 1, "versions": [1]}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_malformed_hello(body: bytes) -> None:
    assert_refused(bytes([HELLO]) + body, "malformed hello")


def test_error_message_not_utf8() -> None:
    assert_refused(bytes([ERROR]) + b"\xff\xfe", "UTF-8")


# -- fuzzing ------------------------------------------------------------------------------


def decodes_or_refuses(frame: bytes) -> None:
    try:
        msg = decode(frame)
    except ProtocolError:
        return
    assert isinstance(msg, Hello | Changes | Ack | Error | Pending)
    # Whatever decodes is a well-formed message that encodes back to a decodable frame.
    assert decode(encode(msg)) == msg


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(frame: bytes) -> None:
    decodes_or_refuses(frame)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([HELLO, CHANGES, ACK, ERROR, PENDING]), st.binary(max_size=300))
def test_fuzz_arbitrary_body_of_each_type(kind: int, body: bytes) -> None:
    decodes_or_refuses(bytes([kind]) + body)


SEEDS = [
    encode(Hello("laptop-1", "travel", "Acme", (1, 2))),
    encode(Changes(0, ())),
    VALID_CHANGES,
    encode(Changes(2**35, (("a" * MAX_ID, bytes(range(40))), ("b", b"\x80\x80")))),
    encode(Ack(300)),
    encode(Error("bad")),
    encode(Pending(12)),
]

mutation = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete"]),
    st.integers(0, 10_000),
    st.integers(0, 255),
)


def mutate(frame: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(frame)
    for op, where, value in ops:
        pos = where % (len(data) + 1)
        if op == "insert":
            data.insert(pos, value)
        elif not data:
            continue
        elif op == "delete":
            del data[pos % len(data)]
        elif op == "flip":
            data[pos % len(data)] ^= 1 << (value % 8)
        else:
            data[pos % len(data)] = value
    return bytes(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(mutation, min_size=1, max_size=6))
def test_fuzz_mutated_valid_frames(seed: bytes, ops: list[tuple[str, int, int]]) -> None:
    decodes_or_refuses(mutate(seed, ops))


record_ids = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=127), min_size=1, max_size=MAX_ID
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**63 - 1),
    st.lists(st.tuples(record_ids, st.binary(max_size=512)), max_size=30),
)
def test_changes_round_trip_property(upto: int, items: list[tuple[str, bytes]]) -> None:
    msg = Changes(upto, tuple(items))
    assert decode(encode(msg)) == msg
