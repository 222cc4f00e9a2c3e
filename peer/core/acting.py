"""Who acts through this device: a person logged in to its web pages.

The web layer sets it around a request's writes (:func:`acting_as`); the record layer
puts it beside each value the device writes, in the device's signed slot, so every
replica can show who changed what, through which device, when. Writes made from the
command line or the API name no one but the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ACTING: ContextVar[str | None] = ContextVar("roamsync_acting_user", default=None)
MAX_USER = 254  # an e-mail address's longest


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Writes inside the block are made by ``user`` (through this device)."""
    token = ACTING.set(user)
    try:
        yield
    finally:
        ACTING.reset(token)
