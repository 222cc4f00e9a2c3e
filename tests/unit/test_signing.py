"""Signed claims and slots: an honest record verifies wherever it is merged; every way a
forger was seen (or could) rewrite a record is refused, by the same check on every replica."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc
from signkeys import CLIENTS, RECORD, REG, ROLES, claims, copy, created, write

from roamsync.peer.record import RecordDoc, signed_claim, verify_state
from roamsync.peer.record.layout import SIG


def assert_refused(rec: RecordDoc, why: str) -> None:
    reason = verify_state(RECORD, rec.encode(), REG)
    assert reason is not None, "the forgery verified"
    assert why in reason, reason


step = st.tuples(
    st.sampled_from(["hq", "office"]), st.sampled_from(["name", "price", "notes"]), st.integers()
)


@given(st.lists(step, max_size=12))
def test_honest_records_verify_after_any_merges(steps: list[tuple[str, str, int]]) -> None:
    docs = {"hq": created()}
    docs["office"] = copy(docs["hq"], "office")
    for t, (device, field, n) in enumerate(steps, start=3):
        rec = docs[device]
        if field == "notes":  # as Records.write does it: claim and slot, then the text
            write(rec, device, {}, t)
            rec.set_note("notes", f"note {n}")
        else:
            write(rec, device, {field: str(n) if field == "name" else f"{n % 1000}.00"}, t)
        other = docs["office" if device == "hq" else "hq"]
        if n % 3 == 0:
            other.apply(rec.encode())
    for rec in docs.values():
        assert verify_state(RECORD, rec.encode(), REG) is None


def test_an_unsigned_record_is_refused() -> None:
    rec = RecordDoc.load(CLIENTS["hq"])
    with rec.doc.transaction():
        rec.init("products", "hq", "main", 1)
        rec.claim_client("hq", "main")
        rec.put("hq", "main", 2, {"name": "Widget"})
    assert_refused(rec, "not signed")


def test_a_write_in_another_devices_name_is_refused() -> None:
    rec = copy(created(), "mallory")
    with rec.doc.transaction():
        rec.claim_client("mallory", "travel", claims("mallory", CLIENTS["mallory"]))
        rec.put("hq", "main", 3, {"price": "0.01"})  # main's slot, by mallory's client
    assert_refused(rec, "not one of hq's")


def test_its_own_write_tagged_main_is_refused() -> None:
    rec = copy(created(), "mallory")
    write(rec, "mallory", {"price": "0.01"}, 3, role="main")
    assert_refused(rec, "registry says travel")


def test_a_claim_in_another_devices_name_is_refused() -> None:
    rec = copy(created(), "mallory")
    mine = CLIENTS["mallory"]
    forged = {c: signed_claim("hq", "main", c, REG.signer("mallory")) for c in (mine, mine + 1)}
    with rec.doc.transaction():
        rec.claim_client("hq", "main", forged)
        rec.put("hq", "main", 3, {"price": "0.01"}, signed=(RECORD, REG.signer("mallory")))
    assert_refused(rec, "not signed by hq")


def test_mains_old_signed_slot_replayed_is_refused() -> None:
    rec = created()
    old = str(rec.slots["hq"])
    write(rec, "hq", {"price": "120.00"}, 3)
    forged = copy(rec, "mallory")
    with forged.doc.transaction():
        forged.claim_client("mallory", "travel", claims("mallory", CLIENTS["mallory"]))
        forged.slots["hq"] = old  # main's own signature, by mallory's client
    assert_refused(forged, "not one of hq's")


def test_mains_old_signed_slot_replayed_in_mains_client_is_refused() -> None:
    rec = created()
    old = str(rec.slots["hq"])
    write(rec, "hq", {"price": "120.00"}, 3)
    doc: Doc[Any] = Doc(client_id=CLIENTS["hq"])  # mallory writes as main's Yjs client
    doc.apply_update(rec.encode())
    forged = RecordDoc(doc)
    with forged.doc.transaction():
        forged.slots["hq"] = old
    assert_refused(forged, "not signed by hq for this place")


def test_a_slot_moved_to_another_record_is_refused() -> None:
    rec = created()
    assert verify_state("another record", rec.encode(), REG) is not None


def test_deleting_mains_slot_is_refused() -> None:
    forged = copy(created(), "mallory")
    with forged.doc.transaction():
        forged.claim_client("mallory", "travel", claims("mallory", CLIENTS["mallory"]))
        del forged.slots["hq"]
    assert_refused(forged, "deleted")


def test_items_appended_to_mains_client_are_refused() -> None:
    rec = created()
    doc: Doc[Any] = Doc(client_id=CLIENTS["hq"])
    doc.apply_update(rec.encode())
    forged = RecordDoc(doc)
    forged.set_note("notes", "written as main")  # in hq's notes lane: claimed, so allowed...
    assert verify_state(RECORD, forged.encode(), REG) is None  # (note text: README's limits)
    with forged.doc.transaction():
        forged.meta["x"] = "y"  # ...but not in its slot lane
    assert_refused(forged, "not its slot")


def test_a_record_created_in_mains_name_is_refused() -> None:
    rec = RecordDoc.load(CLIENTS["mallory"])
    with rec.doc.transaction():
        rec.init("products", "hq", "main", 1)
    write(rec, "mallory", {"name": "Free stuff"}, 2)
    assert_refused(rec, "not written by its creator")


def test_a_signed_slot_keeps_its_values() -> None:
    rec = created()
    raw = str(rec.slots["hq"])
    assert SIG in raw
    assert rec.resolved().values["price"] == "100.00"


@pytest.mark.parametrize("device", ["nobody"])
def test_a_device_the_registry_does_not_know_is_refused(device: str) -> None:
    rec = copy(created(), "mallory")
    with rec.doc.transaction():
        rec.claim_client(device, "office", {c: f"{device}\x1foffice\x1fAAAA" for c in (30, 31)})
    assert_refused(rec, "does not know")


def unsigned(rec: RecordDoc, device: str, values: dict[str, object], t: int) -> None:
    """A write as a version before signed writes made it."""
    with rec.doc.transaction():
        rec.claim_client(device, ROLES[device])
        rec.put(device, ROLES[device], t, values)  # type: ignore[arg-type]


def test_what_a_replica_holds_already_is_not_checked_again() -> None:
    """Records written before writes were signed keep syncing: only what is new is
    checked, and a device's first signed write there signs its claim too."""
    legacy = RecordDoc.load(CLIENTS["hq"])
    with legacy.doc.transaction():
        legacy.init("products", "hq", "main", 1)
    unsigned(legacy, "hq", {"name": "Widget"}, 2)
    office = copy(legacy, "office")
    unsigned(office, "office", {"price": "1.00"}, 3)
    held = office.state_vector()  # what every replica took before the upgrade
    assert verify_state(RECORD, office.encode(), REG) is not None  # whole: not signed
    assert verify_state(RECORD, office.encode(), REG, held) is None
    write(office, "office", {"price": "2.00"}, 4)  # upgraded: signs its claim and slot
    assert verify_state(RECORD, office.encode(), REG, held) is None
    unsigned(legacy, "hq", {"name": "Gadget"}, 5)  # new and not signed
    office.apply(legacy.encode())
    assert "not signed" in str(verify_state(RECORD, office.encode(), REG, held))


def general(rec: RecordDoc) -> str | None:
    """The check without its shortcut for records of one client."""
    from roamsync.peer.record.signing import _verify
    from roamsync.peer.record.ystate import read_state

    return _verify(RECORD, read_state(rec.encode()), REG, {})


def one_client(device: str, creator: str, slot_as: str, role: str, sign: bool) -> RecordDoc:
    rec = RecordDoc.load(CLIENTS[device])
    with rec.doc.transaction():
        rec.init("contacts", creator, ROLES.get(creator, "office"), 1)
        client = rec.doc.client_id
        signer = REG.signer(device)
        claims = {c: signed_claim(device, ROLES[device], c, signer) for c in (client, client + 1)}
        rec.claim_client(device, ROLES[device], claims if sign else None)
        rec.put(slot_as, role, 2, {"name": "Acme"}, signed=(RECORD, signer) if sign else None)
    return rec


@pytest.mark.parametrize(
    ("device", "creator", "slot_as", "role", "sign"),
    [
        ("hq", "hq", "hq", "main", True),  # honest
        ("office", "office", "office", "office", True),  # honest
        ("mallory", "hq", "mallory", "travel", True),  # created in main's name
        ("mallory", "mallory", "hq", "main", True),  # main's slot
        ("mallory", "mallory", "mallory", "main", True),  # its own, tagged main
        ("office", "office", "office", "office", False),  # unsigned
    ],
)
def test_the_shortcut_for_one_client_answers_as_the_whole_check(
    device: str, creator: str, slot_as: str, role: str, sign: bool
) -> None:
    rec = one_client(device, creator, slot_as, role, sign)
    fast = verify_state(RECORD, rec.encode(), REG)
    assert (fast is None) == (general(rec) is None), (fast, general(rec))
    assert (fast is None) == (device == creator == slot_as and ROLES[device] == role and sign)


def test_deleting_another_devices_claim_is_refused() -> None:
    rec = created()
    office = copy(rec, "office")
    write(office, "office", {"price": "5.00"}, 3)
    held = office.state_vector()
    forged = copy(office, "mallory")
    with forged.doc.transaction():
        del forged.meta[f"a:{CLIENTS['hq']}"]
    write(forged, "mallory", {"name": "x"}, 4)
    reason = verify_state(RECORD, forged.encode(), REG, held)
    assert reason is not None
    assert "which no device claims" in reason
