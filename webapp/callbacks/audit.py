"""Audit tab callbacks: the history of adds, changes, retires, restores, imports and settings, filtered by
edit, user and time, and exported as CSV.

Each row shows its change in words ("target: Madrid → Paris", "retired", "threshold: 0.50 → 0.40"), not as
JSON; the CSV export keeps the words and the stored before/after JSON beside them (nothing is lost).
Invariants: read-only; times are shown and parsed as UTC; a CSV cell of curators' text that a spreadsheet
would run as a formula starts with ' (webapp.shown.spreadsheet), the ids stay numbers.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from core.errors import EditorError, InvalidInput
from services.services import Services
from webapp.auth import User
from webapp.callbacks import error_text, parse_id
from webapp.shown import bidi_closed, spreadsheet

AUDIT_COLUMNS = ("id", "when (UTC)", "user", "action", "edit", "change", "reason")
CSV_COLUMNS = (*AUDIT_COLUMNS, "before (JSON)", "after (JSON)")
MAX_ROWS = 1000


def audit_rows(
    services: Services, user: User, edit_id: object = None, actor: str = "", since: str = "", until: str = ""
) -> tuple[list[list], str]:
    """(rows newest first, a note) for the filters; blank filters match everything."""
    try:
        entries = _entries(services, edit_id, actor, since, until)
    except EditorError as exc:
        return [], error_text(exc)
    rows = [_row(e) for e in entries]
    more = " (the newest shown; narrow the filters)" if len(rows) == MAX_ROWS else ""
    return rows, f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}{more}."


def export_csv(
    services: Services,
    user: User,
    edit_id: object = None,
    actor: str = "",
    since: str = "",
    until: str = "",
    into: Callable[[str], Path] | None = None,
) -> tuple[str | None, str]:
    """(path of a CSV with the filtered entries, a note): the rows as shown, plus the stored JSON. `into(name)`
    gives the path (the server's own folder, webapp.files, where it is deleted after an age limit and at
    shutdown); without it, a new temp folder. Text a spreadsheet would run as a formula is written with a leading '."""
    try:
        entries = _entries(services, edit_id, actor, since, until)
    except EditorError as exc:
        return None, error_text(exc)
    rows = [[*_row(e), _j(e.before), _j(e.after)] for e in entries]
    name = f"audit-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    path = into(name) if into else Path(tempfile.mkdtemp(prefix="serac-audit-")) / name
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([[spreadsheet(cell) for cell in row] for row in rows])
    return str(path), f"Exported {len(rows)} entries."


def parse_time(value: str, name: str) -> datetime | None:
    """'2026-11-22', '2026-11-22 10:30' or ISO 8601, read as UTC when no zone is given; blank is None."""
    if value is None or not str(value).strip():
        return None
    try:
        at = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-11-22 or 2026-11-22 10:30, got {value!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _row(e) -> list:
    return [
        e.id,
        e.at.strftime("%Y-%m-%d %H:%M:%S"),
        e.actor,
        e.action,
        e.edit_id or "",
        change_words(e),
        e.reason or "",
    ]


def _entries(services: Services, edit_id, actor, since, until):
    blank = edit_id is None or (isinstance(edit_id, str) and not edit_id.strip())
    edit = None if blank else parse_id(edit_id)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start and end and start > end:
        raise InvalidInput("'since' is after 'until'")
    return services.repository.audit_entries(edit, (actor or "").strip() or None, start, end, limit=MAX_ROWS)


STATUS_WORDS = {("active", "retired"): "retired", ("retired", "active"): "restored"}


def change_words(entry) -> str:
    """An audit row's change in words: what a new edit or probe says, or each changed field as
    "field: old → new" (a status change as "retired" / "restored"), joined by "; ". A right-to-left mark a
    value leaves open is closed after it, so it cannot reverse the arrow and the words that follow."""
    before, after = entry.before, entry.after
    if after and not before:
        if entry.action == "add-probe":
            scope = "in scope" if after.get("expect") == "in" else "out of scope"
            return f"probe ({scope}): {bidi_closed(after.get('prompt', ''))}"
        if "prompt" in after and "target" in after:
            return f"new edit: {bidi_closed(after['prompt'])} → {bidi_closed(after['target'])}"
    if before and not after:
        return "removed: " + _fields(before)
    keys = [k for k in _keys(before, after) if (before or {}).get(k) != (after or {}).get(k)]
    return "; ".join(_field_change(k, (before or {}).get(k), (after or {}).get(k)) for k in keys) or "no change"


def _field_change(key: str, old: object, new: object) -> str:
    if key == "status" and (old, new) in STATUS_WORDS:
        return STATUS_WORDS[(old, new)]
    return f"{key}: {_value(old)} → {_value(new)}"


def _keys(before: dict | None, after: dict | None) -> list[str]:
    """Fields in a stable order: those of the first dict, then any new ones of the second."""
    seen = list(before or {})
    return seen + [k for k in (after or {}) if k not in seen]


def _fields(values: dict) -> str:
    return ", ".join(f"{k}: {_value(v)}" for k, v in values.items())


def _value(value: object) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, float):
        return f"{value:.2f}" if value == round(value, 2) else f"{value:g}"
    return bidi_closed(str(value))


def _j(value: dict | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
