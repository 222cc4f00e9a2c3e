"""The company profile and the connection criteria checked before enrolling devices.

Before ``invite`` (on main) and ``join`` (main checks it when the new device
asks), the company's name, full address, phone, e-mail and organisation
number must be registered; the check lists what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from roamsync.peer.replica import Peer
from roamsync.schema import CriteriaError, FieldTypeError

PROFILE_ID = "company"
CRITERIA = {
    "name": "company name",
    "address": "full address",
    "phone": "phone",
    "email": "e-mail",
    "org_number": "organisation number",
}


def profile(peer: Peer) -> dict[str, object]:
    if peer.store.view(PROFILE_ID) is None:
        return {}
    return peer.get("company", PROFILE_ID)


# The shape of what a profile holds (FieldTypeError names the expected form).
SHAPES = {
    "email": (re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"), "an e-mail address like post@acme.no"),
    "phone": (re.compile(r"\+?[0-9(][0-9 ()./-]{4,24}"), "a phone number like +47 22 00 00 00"),
    "org_number": (
        re.compile(r"(?:[A-Z]{2} ?)?[0-9][0-9 .-]{4,18}[0-9](?: ?MVA)?"),
        "an organisation number like 912 345 678",
    ),
}


def check_shapes(fields: Mapping[str, object]) -> None:
    """``FieldTypeError`` for an e-mail, phone or organisation number of the wrong shape."""
    for name, (shape, expected) in SHAPES.items():
        value = fields.get(name)
        if isinstance(value, str) and value.strip() and not shape.fullmatch(value.strip()):
            raise FieldTypeError("company", name, expected, value)


async def set_profile(peer: Peer, fields: Mapping[str, object]) -> dict[str, object]:
    """Register or change the company profile (main only)."""
    given = {k: v for k, v in fields.items() if v is not None}
    check_shapes(given)
    if peer.store.view(PROFILE_ID) is None:
        await peer.create("company", {"name": "", **given}, record_id=PROFILE_ID)
    elif given:
        await peer.update("company", PROFILE_ID, given)
    return profile(peer)


def missing(peer: Peer) -> list[str]:
    """What the connection criteria still need, in words."""
    current = profile(peer)
    return [words for field, words in CRITERIA.items() if not str(current.get(field) or "").strip()]


def check_criteria(peer: Peer) -> None:
    gaps = missing(peer)
    if gaps:
        raise CriteriaError(gaps)
