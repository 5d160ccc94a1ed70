"""Audit tab callbacks: the history of adds, changes, retires, restores, imports and settings, filtered by
edit, user and time, and exported as CSV.

Invariant: read-only; times are shown and parsed as UTC.
"""

from __future__ import annotations

import csv
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from core.errors import EditorError, InvalidInput
from services.services import Services
from webapp.auth import User
from webapp.callbacks import error_text, parse_id

AUDIT_COLUMNS = ("id", "when (UTC)", "user", "action", "edit", "before", "after", "reason")
MAX_ROWS = 1000


def audit_rows(
    services: Services, user: User, edit_id: object = None, actor: str = "", since: str = "", until: str = ""
) -> tuple[list[list], str]:
    """(rows newest first, a note) for the filters; blank filters match everything."""
    try:
        entries = _entries(services, edit_id, actor, since, until)
    except EditorError as exc:
        return [], error_text(exc)
    rows = [
        [
            e.id,
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.edit_id or "",
            *_changed(e.before, e.after),
            e.reason or "",
        ]
        for e in entries
    ]
    more = " (the newest shown; narrow the filters)" if len(rows) == MAX_ROWS else ""
    return rows, f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}{more}."


def export_csv(
    services: Services, user: User, edit_id: object = None, actor: str = "", since: str = "", until: str = ""
) -> tuple[str | None, str]:
    """(path of a CSV with the filtered entries, a note)."""
    rows, note = audit_rows(services, user, edit_id, actor, since, until)
    if note.startswith("**Error"):
        return None, note
    folder = Path(tempfile.mkdtemp(prefix="serac-audit-"))
    path = folder / f"audit-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(AUDIT_COLUMNS)
        writer.writerows(rows)
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


def _entries(services: Services, edit_id, actor, since, until):
    edit = None if edit_id in (None, "", 0) else parse_id(edit_id)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start and end and start > end:
        raise InvalidInput("'since' is after 'until'")
    return services.repository.audit_entries(edit, (actor or "").strip() or None, start, end, limit=MAX_ROWS)


def _changed(before: dict | None, after: dict | None) -> tuple[str, str]:
    """Before and after as JSON, showing only the fields that changed when both exist."""
    if before and after:
        keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        before, after = {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
    return _j(before), _j(after)


def _j(value: dict | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
