"""No record can block a session: limits on a field and a record, enforced where a
write is made and where an update is merged, and a sender that never builds a
frame over the transport's limit.

Defaults (README, "Limits"): a text or note value holds at most 64 KiB of
UTF-8, a record's whole state at most 1 MiB.
"""

from __future__ import annotations

import pytest

from roamsync.schema import RecordTooLargeError, ValueTooLargeError
from roamsync.schema.fields import MAX_RECORD, MAX_TEXT
from roamsync.transport.memory import sync
from roamsync.transport.protocol import MAX_FRAME

from conftest import OpenPeer


async def test_a_value_over_the_limit_is_refused_and_nothing_is_written(
    open_peer: OpenPeer,
) -> None:
    hq = await open_peer("hq", "main")
    acme = await hq.create("contacts", {"name": "Acme"})
    with pytest.raises(ValueTooLargeError, match="64 KiB"):
        await hq.update("contacts", acme, {"name": "x" * (MAX_TEXT + 1)})
    with pytest.raises(ValueTooLargeError):
        await hq.update("contacts", acme, {"notes": "ø" * (MAX_TEXT // 2 + 1)})  # 2 bytes each
    await hq.update("contacts", acme, {"name": "x" * MAX_TEXT})  # exactly the limit is fine
    assert len(hq.get("contacts", acme)["name"]) == MAX_TEXT


async def test_a_write_to_a_record_over_the_limit_is_refused_and_nothing_is_stored(
    open_peer: OpenPeer,
) -> None:
    """The API's field limits keep records small (a contact's fields and notes hold
    about 0.6 MiB at most); the record limit is the backstop for what got in otherwise."""
    hq = await open_peer("hq", "main")
    acme = await hq.create("contacts", {"name": "Acme"})
    stored = hq.store.state(acme)
    rec = hq.records.doc(acme)
    assert rec is not None
    rec.set_note("notes", "y" * (MAX_RECORD + 1))  # behind the API's back
    with pytest.raises(RecordTooLargeError, match="1 MiB"):
        await hq.update("contacts", acme, {"phone": "1"})
    assert hq.store.state(acme) == stored
    assert hq.get("contacts", acme)["notes"] == ""  # memory is not ahead of the store
    await hq.update("contacts", acme, {"phone": "2"})
    assert hq.get("contacts", acme)["phone"] == "2"


async def test_a_merged_record_over_the_limit_is_refused_and_reported(
    open_peer: OpenPeer,
) -> None:
    hq = await open_peer("hq", "main")
    mallory = await open_peer("mallory", "office")
    small = await mallory.create("contacts", {"name": "Small AS"})
    huge = await mallory.create("contacts", {"name": "Huge AS"})
    rec = mallory.records.doc(huge)
    assert rec is not None
    with rec.doc.transaction():
        rec.claim_client("mallory", "office")  # its notes lane, as a write of notes claims it
    rec.set_note("notes", "z" * (2 * MAX_RECORD))  # what the API refuses, a crafted update holds
    update = rec.doc.get_update()
    assert MAX_RECORD < len(update) < MAX_FRAME
    result = await hq.apply_remote([(small, mallory.store.state(small) or b""), (huge, update)])
    assert result.changed == 1
    assert hq.store.view(huge) is None
    [rejection] = hq.rejections()
    assert rejection.record == huge
    assert "MiB" in rejection.reason


async def test_a_merged_value_over_the_limit_is_refused_and_reported(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    mallory = await open_peer("mallory", "office")
    medium = await mallory.create("contacts", {"name": "Medium AS"})
    rec = mallory.records.doc(medium)
    assert rec is not None
    with rec.doc.transaction():
        rec.claim_client("mallory", "office")
    rec.set_note("notes", "m" * (MAX_TEXT + 1))
    result = await hq.apply_remote([(medium, rec.doc.get_update())], "mallory")
    assert result.rejected == 1
    [rejection] = hq.rejections()
    assert "notes holds" in rejection.reason
    assert "64 KiB" in rejection.reason


async def test_an_oversized_record_is_skipped_and_everything_else_flows(
    open_peer: OpenPeer,
) -> None:
    """A store may hold a record larger than a frame (written by an older version):
    the sender skips it, says so, and sends the rest."""
    office = await open_peer("office", "office")
    hq = await open_peer("hq", "main")
    before = await office.create("contacts", {"name": "Before AS"})
    blob = await office.create("contacts", {"name": "Blob AS"})
    after = await office.create("contacts", {"name": "After AS"})
    rec = office.records.doc(blob)
    assert rec is not None
    rec.set_note("notes", "q" * (MAX_FRAME + 1))  # behind the API's back, as an old version could
    office.records.commit([(blob, rec)], check_size=False)
    report = await sync(office, hq)
    assert hq.store.view(before) is not None
    assert hq.store.view(after) is not None
    assert hq.store.view(blob) is None
    assert report.skipped == 1
