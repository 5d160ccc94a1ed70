"""Edits tab callbacks: add (with a conflict check), bulk import, the paged table, retire/restore, change target.

Invariants: every write goes through Services (log first, then index) as the logged-in user and only for a
curator; a conflict never saves silently: the caller must confirm with `add_anyway`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from core.datasets import read_edit_file
from core.errors import EditorError, InvalidInput
from core.progress import NoProgress, fraction_progress
from core.types import EditDraft
from services.imports import RejectedRecords, import_read
from services.services import Services
from webapp.auth import User, require_curator
from webapp.callbacks import error_text, is_whole, parse_id, parse_number
from webapp.conflicts import find_conflicts

EDIT_COLUMNS = ("id", "status", "prompt", "target", "subject", "notes", "updated", "updated by")
NEIGHBOUR_COLUMNS = ("edit id", "why", "score", "prompt", "target")
IMPORT_ERROR_COLUMNS = ("line", "problem")
STATUSES = ("all", "active", "retired")
IMPORT_BATCH = 200
MAX_UPLOAD_BYTES = 32 << 20  # 32 MiB: ten times CounterFact's train.json; larger files are refused unread


def edit_page(
    services: Services, search: str = "", status: str = "all", page: object = 1, page_size: object = 20
) -> tuple[list[list], str, int]:
    """One page of the edit table: (rows, 'page p of n · total', the page actually shown)."""
    status_filter = None if status in (None, "", "all") else status
    try:
        size = max(1, min(_whole(page_size, "page size", 20), 500))
        wanted = _whole(page, "page", 1)
        total = services.repository.count_edits(status_filter, search or None)
    except EditorError as exc:
        return [], error_text(exc), 1
    pages = max(1, math.ceil(total / size))
    page_no = max(1, min(wanted, pages))
    edits = services.repository.list_edits(status_filter, search or None, offset=(page_no - 1) * size, limit=size)
    rows = [
        [
            e.id,
            e.status,
            e.prompt,
            e.target,
            e.subject or "",
            e.notes or "",
            e.updated_at.strftime("%Y-%m-%d %H:%M:%S") if e.updated_at else "",
            e.updated_by or "",
        ]
        for e in edits
    ]
    return rows, f"Page {page_no} of {pages} · {total} edit(s)", page_no


def _whole(value: object, name: str, default: int) -> int:
    """A page number or size from a number box (blank means the default); InvalidInput otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number = parse_number(value, name)
    if not is_whole(number):
        raise InvalidInput(f"{name} must be a whole number, got {value!r}")
    return int(number)


def edit_choices(services: Services, limit: int = 1000) -> list[tuple[str, int]]:
    """(label, id) pairs for edit pickers, newest first."""
    edits = services.repository.list_edits()[-limit:]
    return [(f"#{e.id} [{e.status}] {e.prompt} → {e.target}", e.id) for e in reversed(edits)]


def check_and_add(
    services: Services, user: User, prompt: str, target: str, subject: str = "", notes: str = ""
) -> tuple[str, list[list], bool]:
    """Save the edit unless it conflicts; on conflict, (warning, neighbour rows, True = ask to confirm)."""
    try:
        require_curator(user)
        draft = EditDraft(prompt, target, subject or None, notes or None)
        conflicts = find_conflicts(services, draft)
    except EditorError as exc:
        return error_text(exc), [], False
    if conflicts.any:
        return (
            f"**Not saved yet — check the neighbours:** this edit {conflicts.summary()}. "
            "Press *Save anyway* to keep it, or change it.",
            neighbour_rows(conflicts),
            True,
        )
    return add_anyway(services, user, prompt, target, subject, notes)[0], [], False


def add_anyway(
    services: Services, user: User, prompt: str, target: str, subject: str = "", notes: str = ""
) -> tuple[str, list[list], bool]:
    try:
        require_curator(user)
        edit = services.add_edit(EditDraft(prompt, target, subject or None, notes or None), user.name)
    except EditorError as exc:
        return error_text(exc), [], False
    return f"Added edit #{edit.id}: *{edit.prompt}* → **{edit.target}**.", [], False


def neighbour_rows(conflicts) -> list[list]:
    rows = [
        [e.id, "contradiction (same prompt, other target)", "", e.prompt, e.target] for e in conflicts.contradictions
    ]
    rows += [[e.id, "duplicate (same prompt and target)", "", e.prompt, e.target] for e in conflicts.duplicates]
    rows += [[c.edit.id, "in scope", round(c.score, 4), c.edit.prompt, c.edit.target] for c in conflicts.in_scope]
    return rows


def retire(services: Services, user: User, edit_id: object, reason: str = "") -> str:
    return _state_change(services.retire, "Retired", user, edit_id, reason)


def restore(services: Services, user: User, edit_id: object, reason: str = "") -> str:
    return _state_change(services.restore, "Restored", user, edit_id, reason)


def change_target(services: Services, user: User, edit_id: object, target: str, reason: str = "") -> str:
    try:
        require_curator(user)
        edit = services.change_target(parse_id(edit_id), target, user.name, reason or None)
    except EditorError as exc:
        return error_text(exc)
    return f"Edit #{edit.id} now answers **{edit.target}** (recorded as a change in the audit log)."


def _state_change(action: Callable, verb: str, user: User, edit_id: object, reason: str) -> str:
    try:
        require_curator(user)
        edit = action(parse_id(edit_id), user.name, reason or None)
    except EditorError as exc:
        return error_text(exc)
    return f"{verb} edit #{edit.id} (now {edit.status})."


def import_file(
    services: Services,
    user: User,
    path: str | None,
    fmt: str = "auto",
    skip_invalid: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[str, list[list]]:
    """Import a JSONL/CSV/CounterFact/zsRE file in batches; (summary, per-line errors). All-or-nothing
    unless skip_invalid. Paraphrases and unrelated prompts in the records are kept as the edits' probes
    (services.imports: the same rules as `app.py import`)."""
    try:
        require_curator(user)
        if not path:
            raise InvalidInput("choose a file to import")
        _check_upload_size(Path(path))
        read = read_edit_file(path, fmt or "auto")
        result = import_read(
            services,
            read,
            user.name,
            f"import {Path(path).name}",
            skip_invalid,
            IMPORT_BATCH,
            fraction_progress(progress) if progress else NoProgress,
        )
    except RejectedRecords as exc:
        return (
            f"**Nothing imported:** {len(exc.rejected)} of {exc.total} records rejected "
            "(see below). Fix them, or tick *import the valid records*.",
            _error_rows(exc.rejected),
        )
    except EditorError as exc:
        return error_text(exc), []
    tail = f"; rejected {len(result.rejected)} (see below)" if result.rejected else ""
    return (f"Imported {result.imported} edits with {result.probes} probe prompts{tail}.", _error_rows(result.rejected))


def _error_rows(rejected: list[tuple[int, str]]) -> list[list]:
    return [[line, message] for line, message in rejected]


def _check_upload_size(path: Path) -> None:
    try:
        size = path.stat().st_size if path.is_file() else 0  # a missing path or folder: read_edit_file says so
    except OSError:
        return
    if size > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"{path.name} is {size} bytes; the upload limit is {MAX_UPLOAD_BYTES} bytes")
