"""``peer/record/yjs.py``'s fast :func:`check_update` against the plain reference it replaced
(``tests/yjs_reference.py``): for every input the same reach, or ``ValueError`` from both.

Hypothesis drives mutated real updates (the fuzzing corpus), arbitrary bytes and
updates built field by field (``tests/yjs_updates.py``); a table covers the edges
by hand. ``bench/yjs_equivalence.py`` runs the same comparison over millions of
seeded inputs. ``ROAMSYNC_FUZZ_SCALE=N`` multiplies the examples by N.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import fuzz_settings

from roamsync.peer.record.yjs import MAX_DEPTH, check_update

import yjs_reference
from fuzzing import build_corpus, mutate, varuint
from yjs_updates import BAD_UTF8, nested, yjs_update

randoms = st.randoms(use_true_random=False)
Outcome = dict[int, int] | str


def outcome(check: Callable[[bytes], dict[int, int]], update: bytes) -> Outcome:
    """The reach, or "refused": any exception but ``ValueError`` fails the test."""
    try:
        return check(update)
    except ValueError:
        return "refused"


def assert_agree(update: bytes) -> Outcome:
    new, old = outcome(check_update, update), outcome(yjs_reference.check_update, update)
    assert new == old, f"{update.hex()}: fast {new!r}, reference {old!r}"
    return new


examples = fuzz_settings  # the same settings as the other fuzz tests


@functools.cache
def real_updates() -> list[bytes]:
    """The fuzzing corpus's updates: states and diffs of real records, made by peers."""
    return [update for _, update in asyncio.run(build_corpus()).updates]


# -- properties ----------------------------------------------------------------------------


@examples(3000)
@given(rng=randoms)
def test_mutated_real_updates(rng: random.Random) -> None:
    updates = real_updates()
    assert_agree(mutate(rng.choice(updates), rng, updates, rng.choice((1, 1, 2, 4))))


@examples(1500)
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x01", b"\x01\x01\x07\x00"]))
def test_arbitrary_bytes(data: bytes, prefix: bytes) -> None:
    assert_agree(prefix + data)


@examples(5000)
@given(seed=st.integers(0, 2**64))  # a plain Random: far faster than Hypothesis's own
def test_built_updates(seed: int) -> None:
    rng = random.Random(seed)
    update = yjs_update(rng)
    assert_agree(update)
    assert_agree(mutate(update, rng, real_updates(), rng.choice((1, 2))))


def test_built_updates_are_accepted_and_refused() -> None:
    """Built updates reach both outcomes, often: neither side of a branch goes untested."""
    rng = random.Random(7)
    results = [assert_agree(yjs_update(rng)) for _ in range(2000)]
    refused = results.count("refused")
    assert 500 < refused < 1500, refused


# -- real updates, every prefix ------------------------------------------------------------


def test_real_updates_agree_and_every_prefix_too() -> None:
    for update in real_updates():
        assert isinstance(assert_agree(update), dict)
        for end in range(len(update)):
            assert assert_agree(update[:end]) == "refused"
        assert assert_agree(update + b"\x00") == "refused"


# -- the edges, by hand --------------------------------------------------------------------


def item(content: bytes, info: int = 0x28, head: bytes = b"\x01\x01r\x01k") -> bytes:
    """A struct: ``info``, the parent (root ``r``, key ``k``), then ``content``."""
    return bytes([info]) + head + content


def update(*structs: bytes, client: bytes = b"\x07", deletes: bytes = b"\x00") -> bytes:
    """One client's run of ``structs`` from clock 0, then the delete set."""
    return b"\x01" + varuint(len(structs)) + client + b"\x00" + b"".join(structs) + deletes


STR = b"\x01\x77\x03abc"  # ANY content: one string value
TOO_LONG = b"\x80" * 10 + b"\x01"  # 11 bytes
TEN_BYTES = b"\x80" * 9 + b"\x01"  # 2**63, the longest varuint allowed
HUGE = varuint(2**69)  # 10 bytes: read, then refused as beyond the end


def string_item(raw: bytes) -> bytes:
    return item(varuint(len(raw)) + raw, info=0x04, head=b"\x01\x01r")


def nest(levels: int, inner: bytes, container: bytes = b"\x75\x01") -> bytes:
    return item(b"\x01" + container * levels + inner)


EDGES: dict[str, tuple[bytes, Outcome]] = {
    "empty": (b"", "refused"),
    "no delete set": (b"\x00", "refused"),
    "nothing": (b"\x00\x00", {}),
    "one value": (update(item(STR)), {7: 1}),
    "multi-byte client and clock": (
        b"\x01\x01" + varuint(2**35) + varuint(300) + item(STR) + b"\x00",
        {2**35: 301},
    ),
    "two-byte string length": (update(item(b"\x01\x77" + varuint(200) + b"x" * 200)), {7: 1}),
    "overlong parent 1": (update(item(STR, head=b"\x81\x00\x01r\x01k")), {7: 1}),
    "overlong counts": (b"\x81\x00\x81\x80\x00\x87\x00\x80\x00" + item(STR) + b"\x80\x00", {7: 1}),
    # yrs keeps 53 bits of a client id: a longer one would alias another client
    "ten-byte client": (b"\x01\x01" + TEN_BYTES + b"\x00" + item(STR) + b"\x00", "refused"),
    "ten-byte all ones": (
        b"\x01\x01" + b"\xff" * 9 + b"\x01\x00" + item(STR) + b"\x00",
        "refused",
    ),
    "the largest client id": (
        b"\x01\x01" + varuint(2**53 - 1) + b"\x00" + item(STR) + b"\x00",
        {2**53 - 1: 1},
    ),
    "a client id of 54 bits": (
        b"\x01\x01" + varuint(2**53) + b"\x00" + item(STR) + b"\x00",
        "refused",
    ),
    "eleven-byte client": (b"\x01\x01" + TOO_LONG + b"\x00" + item(STR) + b"\x00", "refused"),
    "eleven-byte zero": (b"\x01\x01" + b"\x80" * 10 + b"\x00\x00" + item(STR) + b"\x00", "refused"),
    "eleven-byte count": (update(item(b"\x80" * 10 + b"\x00")), "refused"),
    "varuint cut": (b"\x01\x81", "refused"),
    "ascii text": (update(string_item(b"hello")), {7: 5}),
    "empty text": (update(string_item(b"")), {7: 0}),
    "non-ascii text": (update(string_item("blåbær €".encode())), {7: 8}),
    "astral text": (update(string_item("a😀b".encode())), {7: 4}),
    "last code point": (update(string_item("\U0010ffff".encode())), {7: 2}),
    "text longer than the update": (
        update(item(b"\x05ab", info=0x04, head=b"\x01\x01r")),
        "refused",
    ),
    "text of 2**69 bytes": (update(item(HUGE + b"ab", info=0x04, head=b"\x01\x01r")), "refused"),
    "name of 2**69 bytes": (update(item(STR, head=b"\x01" + HUGE)), "refused"),
    "value of 2**69 bytes": (update(item(b"\x01\x77" + HUGE)), "refused"),
    "2**69 values": (update(item(HUGE + b"\x7e")), "refused"),
    "gc of 2**69": (update(b"\x00" + HUGE), {7: 2**69}),
    "skip with origin bits": (update(b"\xca\x05"), {7: 5}),
    "origin": (update(b"\x88\x07\x00\x01\x7e"), {7: 1}),
    "both origins": (update(b"\xc8\x07\x00\x07\x02\x01\x7e"), {7: 1}),
    "right origin": (update(b"\x41\x07\x00\x03"), {7: 3}),
    "parent by id": (update(item(STR, head=b"\x00\x07\x00")), "refused"),
    "parent 2": (update(item(STR, head=b"\x02\x01r\x01k")), "refused"),
    "deleted": (update(item(b"\x04", info=0x01, head=b"\x01\x01r")), {7: 4}),
    "client twice": (b"\x02" + b"\x01\x07\x00" + item(STR) + b"\x00\x07\x00" + b"\x00", "refused"),
    "client twice, no structs": (b"\x02\x00\x07\x00\x00\x07\x00\x00", "refused"),
    "client again in deletes": (update(item(STR), deletes=b"\x01\x07\x01\x02\x03"), {7: 5}),
    "deletes only": (b"\x00\x02\x09\x02\x00\x04\x01\x01\x0a\x01\x00\x00", {9: 4, 10: 0}),
    "deletes, no ranges": (b"\x00\x01\x09\x00", {}),
    "trailing zero": (update(item(STR)) + b"\x00", "refused"),
    "trailing bytes": (update(item(STR)) + b"\xff\xff", "refused"),
    "cut in the delete set": (update(item(STR), deletes=b"\x01\x07\x01\x02"), "refused"),
    "float and int values": (
        update(item(b"\x03\x7b" + bytes(8) + b"\x7c" + bytes(4) + b"\x7d\x85\x01")),
        {7: 3},
    ),
    "float cut": (update(item(b"\x01\x7b" + bytes(7))), "refused"),
    "bytes value": (update(item(b"\x01\x74\x02\xff\xff")), {7: 1}),
    "map and array": (update(item(b"\x02\x76\x01\x01a\x75\x02\x78\x79\x75\x00")), {7: 2}),
}
for bad in BAD_UTF8:
    EDGES[f"invalid utf-8 {bad.hex()}"] = (update(string_item(b"ok" + bad)), "refused")
    EDGES[f"invalid utf-8 {bad.hex()} in a value"] = (
        update(item(b"\x01\x77\x01" + bad[:1])),
        {7: 1},
    )
for levels in range(MAX_DEPTH - 1, MAX_DEPTH + 3):  # the innermost value at depth levels
    deep = "refused" if levels > MAX_DEPTH else {7: 1}
    EDGES[f"arrays {levels} deep"] = (update(nest(levels, b"\x7e")), deep)
    EDGES[f"maps {levels} deep"] = (update(nest(levels, b"\x7e", b"\x76\x01\x01k")), deep)
    EDGES[f"arrays {levels} deep, then an empty one"] = (update(nest(levels, b"\x75\x00")), deep)
    EDGES[f"maps {levels} deep, then an empty one"] = (
        update(nest(levels, b"\x76\x00", b"\x76\x01\x01k")),
        deep,
    )


@pytest.mark.parametrize("name", EDGES)
def test_edge(name: str) -> None:
    data, expected = EDGES[name]
    assert assert_agree(data) == expected


@pytest.mark.parametrize("kind", range(32))
@pytest.mark.parametrize("bits", [0x00, 0x20, 0x80, 0x40, 0xC0, 0xE0])
def test_every_content_kind(kind: int, bits: int) -> None:
    head = b"" if bits & 0xC0 else b"\x01\x01r" + (b"\x01k" if bits & 0x20 else b"")
    origins = b"\x07\x00" * ((bits >> 7) + (bits >> 6 & 1))
    for content in (b"\x01\x7e", b"\x03abc", b"\x00", b""):
        assert_agree(update(bytes([kind | bits]) + origins + head + content))


@pytest.mark.parametrize("tag", range(256))
def test_every_value_tag(tag: int) -> None:
    for rest in (b"", b"\x00", b"\x01", b"\x02ab", bytes(4), bytes(8), b"\x81\x01" + bytes(200)):
        assert_agree(update(item(b"\x01" + bytes([tag]) + rest)))
        assert_agree(update(item(b"\x01\x75\x01" + bytes([tag]) + rest)))


def test_nested_values_agree_at_random_depths() -> None:
    rng = random.Random(3)
    for _ in range(500):
        levels = rng.randint(MAX_DEPTH - 2, MAX_DEPTH + 2)
        assert_agree(update(item(b"\x01" + nested(rng, levels))))
