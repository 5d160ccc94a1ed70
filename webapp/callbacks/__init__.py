"""UI callbacks as plain functions `(services, user, *inputs) -> outputs`, one module per tab, so tests call
them directly.

Invariant: a callback never raises for a user mistake or a missing permission; it returns the error as a
message and leaves the log and the index unchanged.
"""

from __future__ import annotations

import math

from core.errors import EditorError, InvalidInput
from db.repository import MAX_EDIT_ID
from webapp.shown import md


def error_text(exc: EditorError) -> str:
    """An error for a Markdown view; the message may quote the user's input, so it is shown as text."""
    return f"**Error:** {md(exc)}"


def parse_number(value: object, name: str) -> float:
    """A number from a number box or text; InvalidInput naming the field otherwise."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{name} must be a whole number, got {value!r}") from None


def is_whole(number: float) -> bool:
    return math.isfinite(number) and number == int(number)


def parse_id(value: object) -> int:
    """An edit id from a number box, a dropdown value or text; InvalidInput otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput("choose an edit first (its id)")
    number = parse_number(value, "edit id")
    if not (is_whole(number) and 1 <= number <= MAX_EDIT_ID):
        raise InvalidInput(f"edit id must be a positive whole number (at most {MAX_EDIT_ID}), got {value!r}")
    return int(number)
