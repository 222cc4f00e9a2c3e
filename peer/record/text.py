"""Plain-text edits of a note: what changed, as small edits, and two people's edits of
the same text merged.

A note is a CRDT text: characters typed on two devices at once both stay. A form,
though, sends back a whole text. :func:`merge_text` turns it into the user's own
changes (against the text the form showed) applied to the text as it is now, and
:func:`edits` finds the smallest changes from one text to another, so that writing
the result touches only what changed (:meth:`~.doc.RecordDoc.set_note`).
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import NamedTuple

FINE = 4_000_000  # largest (old * new) middle lengths diffed character by character
KEEP = 16  # unchanged runs shorter than this are rewritten with the edits around them
# (fewer, larger edits: a CRDT text of many scattered tiny edits grows, and stays put
# where it matters: a paragraph someone else is typing in is never rewritten)


class Edit(NamedTuple):
    """Replace ``old[start:end]`` with ``text``."""

    start: int
    end: int
    text: str


def edits(old: str, new: str) -> list[Edit]:
    """Edits, left to right, that turn ``old`` into ``new``. Past the common start and
    end, the middle is diffed character by character unless it is huge."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[-1 - end] == new[-1 - end]:
        end += 1
    a, b = old[start : len(old) - end], new[start : len(new) - end]
    if not a and not b:
        return []
    if len(a) * len(b) > FINE or not a or not b:
        return [Edit(start, start + len(a), b)]
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    out: list[Edit] = []
    last_j = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if out and i1 - (out[-1].end - start) < KEEP:  # a short unchanged run: one edit
            prev = out.pop()
            out.append(Edit(prev.start, start + i2, prev.text + b[last_j:j2]))
        else:
            out.append(Edit(start + i1, start + i2, b[j1:j2]))
        last_j = j2
    return out


def merge_text(base: str, mine: str, theirs: str) -> str:
    """``mine`` and ``theirs`` both edited ``base``: the text with both sets of edits.

    Edits of different places both apply. Where they overlap, ``mine`` (the edit
    being saved now) wins that stretch, except that two insertions at the same place
    are both kept, theirs first.
    """
    if mine in (base, theirs):
        return theirs
    if theirs == base:
        return mine
    tagged = sorted(
        [(e, 1) for e in edits(base, theirs)] + [(e, 0) for e in edits(base, mine)],
        key=lambda x: (x[0].start, x[0].end, -x[1]),
    )
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(tagged):
        lo, hi = tagged[i][0].start, tagged[i][0].end
        group = [tagged[i]]
        i += 1
        while i < len(tagged):
            e = tagged[i][0]
            if e.start < hi or e.start == e.end == lo == hi:
                group.append(tagged[i])
                hi = max(hi, e.end)
                i += 1
            else:
                break
        out.append(base[pos:lo])
        out.append(_resolve(base, lo, hi, group))
        pos = hi
    out.append(base[pos:])
    return "".join(out)


def _resolve(base: str, lo: int, hi: int, group: list[tuple[Edit, int]]) -> str:
    sides = {side for _, side in group}
    if len(sides) == 1 or lo != hi:
        side = 0 if 0 in sides else 1  # one side's edits, or mine where both overlap
        return _apply(base, lo, hi, [e for e, s in group if s == side])
    return "".join(e.text for e, _ in group)  # both inserted here: theirs, then mine


def _apply(base: str, lo: int, hi: int, side: list[Edit]) -> str:
    out, pos = [], lo
    for e in side:
        out.append(base[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(base[pos:hi])
    return "".join(out)
