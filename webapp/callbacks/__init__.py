"""UI callbacks as plain functions `(services, user, *inputs) -> outputs`, one module per tab, so tests call them directly.

Invariant: a callback never raises for a user mistake or a missing permission; it returns the error as a
message and leaves the log and the index unchanged.
"""

from __future__ import annotations

import math

from core.errors import EditorError

MAX_ID = 2 ** 63 - 1  # the largest id a database integer column holds


def error_text(exc: EditorError) -> str:
    return f"**Error:** {exc}"


def parse_id(value: object) -> int:
    """An edit id from a number box, a dropdown value or text; InvalidInput otherwise."""
    from core.errors import InvalidInput

    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput("choose an edit first (its id)")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"edit id must be a whole number, got {value!r}") from None
    if not (math.isfinite(number) and number == int(number) and 1 <= number <= MAX_ID):
        raise InvalidInput(f"edit id must be a positive whole number (at most {MAX_ID}), got {value!r}")
    return int(number)
