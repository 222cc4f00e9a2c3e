"""Order and quote numbers: main's final ``1, 2, 3, ...``, other devices' provisional ones.

>>> number_for("main", "hq", 7), number_for("travel", "anna", 2)
('7', 'P-anna-2')

Pure rules; the replica keeps the counters (``number:<module>`` in the store's
metadata) and main renumbers provisional records as they arrive.
"""

from __future__ import annotations

PROVISIONAL = "P-"


def is_provisional(number: object) -> bool:
    return isinstance(number, str) and number.startswith(PROVISIONAL)


def number_for(role: str, label: str, n: int) -> str:
    """The ``n``-th number a device of ``role`` called ``label`` gives."""
    return str(n) if role == "main" else f"{PROVISIONAL}{label}-{n}"


def own_counter(number: object, role: str, label: str) -> int | None:
    """The counter value behind ``number`` if this device gave it, else ``None``: main's
    final numbers, another device's own provisional ones (a repaired store continues
    counting from there)."""
    text = str(number or "")
    mine = f"{PROVISIONAL}{label}-"
    digits = text if role == "main" else text.removeprefix(mine) if text.startswith(mine) else ""
    return int(digits) if digits.isdigit() else None
