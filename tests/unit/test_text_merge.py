"""Notes edited as plain text: the smallest edits between two texts, and two people's
edits of one text merged (issue 14: a web form's note must not clobber a concurrent edit)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text

from roamsync.peer.record.doc import _edit_text
from roamsync.peer.record.text import edits, merge_text

texts = st.text(alphabet="abcæ😀 \n", max_size=40)


def apply(old: str, changes: list) -> str:  # type: ignore[type-arg]
    out, pos = [], 0
    for e in changes:
        out += [old[pos : e.start], e.text]
        pos = e.end
    return "".join(out) + old[pos:]


@given(texts, texts)
def test_edits_turn_one_text_into_the_other(old: str, new: str) -> None:
    assert apply(old, edits(old, new)) == new


@given(texts, texts)
def test_a_crdt_text_edited_by_its_small_edits_reads_the_new_text(old: str, new: str) -> None:
    doc: Doc = Doc()  # type: ignore[type-arg]
    text = doc.get("t", type=Text)
    text += old
    _edit_text(text, new)
    assert str(text) == new


@given(texts, texts)
def test_merging_with_no_change_on_one_side_gives_the_other(base: str, other: str) -> None:
    assert merge_text(base, other, base) == other
    assert merge_text(base, base, other) == other


@given(texts, texts, texts)
def test_edits_of_different_paragraphs_both_stay(head: str, tail: str, edit: str) -> None:
    base = f"{head}\n|\n{tail}"
    mine = f"{head}{edit}\n|\n{tail}"  # I change the first paragraph
    theirs = f"{head}\n|\n{edit}{tail}"  # they change the second
    assert merge_text(base, mine, theirs) == f"{head}{edit}\n|\n{edit}{tail}"


def test_two_insertions_at_one_place_are_both_kept() -> None:
    assert merge_text("call back", "call back today", "call back Monday") in (
        "call back Monday today",
        "call back today Monday",
    )


def test_a_word_deleted_here_and_another_added_there() -> None:
    base = "Met Anna at the fair. Wants a quote."
    mine = "Met Anna at the fair. Wants a quote by Friday."
    theirs = "Met Anna. Wants a quote."
    assert merge_text(base, mine, theirs) == "Met Anna. Wants a quote by Friday."


def test_letters_merge_as_a_crdt_text_merges_them() -> None:
    assert merge_text("the colour red", "the Colour red", "the color red") == "the Color red"


def test_where_both_changed_the_same_letters_mine_wins_them() -> None:
    assert merge_text("size S, blue", "size M, blue", "size L, blue") == "size M, blue"
