"""Signed records fuzzed: random byte changes to a signed record's state never make the
check raise, and whatever a replica takes of them is still signed throughout.

The structural fuzzing (``tests/unit/test_fuzz.py``, ``bench/fuzz.py``) runs on
unsigned replicas; this is its signed counterpart at the record level, with the
same order of checks as ``Merger._merge_one``: apply to a copy, check the record,
verify the merged state, the permission matrix.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from signkeys import RECORD, REG, copy, created, write

from roamsync.peer.record import RecordDoc, verify_state
from roamsync.peer.replica.rows import violation


def base() -> tuple[RecordDoc, bytes]:
    rec = created()
    office = copy(rec, "office")
    write(office, "office", {"name": "Widget 2"}, 3)
    office.set_note("notes", "signed note")
    return rec, office.encode()


RECEIVER, STATE = base()

mutation = st.lists(
    st.tuples(st.integers(0, len(STATE) - 1), st.integers(0, 255), st.sampled_from("fid")),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    out = bytearray(data)
    for at, byte, kind in edits:
        at %= max(len(out), 1)
        if kind == "f":
            out[at] = byte
        elif kind == "i":
            out.insert(at, byte)
        elif out:
            del out[at]
    return bytes(out)


@settings(max_examples=300)
@given(mutation)
def test_what_a_replica_takes_of_a_mutated_signed_record_is_signed(
    edits: list[tuple[int, int, str]],
) -> None:
    update = mutate(STATE, edits)
    reason = verify_state(RECORD, update, REG)  # never raises, whatever the bytes
    assert reason is None or isinstance(reason, str)
    trial = RecordDoc.load(int(RECEIVER.doc.client_id), RECEIVER.encode())
    before = trial.state_vector()
    identity = (trial.module, trial.creator)
    try:
        if not trial.apply(update):
            return
        trial.check()
    except ValueError:
        return  # malformed: dropped
    if verify_state(RECORD, trial.encode(), REG, before) is not None:
        return  # refused
    if violation(trial, before, identity) is not None:
        return  # refused by the matrix
    assert verify_state(RECORD, trial.encode(), REG) is None, "took something unsigned"
