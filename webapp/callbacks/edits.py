"""Edits tab callbacks: add (with a conflict check), bulk import, the paged table, retire/restore, change target.

Invariants: every write goes through Services (log first, then index) as the logged-in user and only for a
curator; a conflict never saves silently: the curator settles it (`settle_and_add`, services.conflicts);
every write re-runs the probe sets of the edits nearby and says which probes now fail (services.regressions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.datasets import place, read_edit_file
from core.errors import EditorError, InvalidInput
from core.progress import NoProgress, fraction_progress
from core.types import Edit, EditDraft
from services.conflicts import Conflicts, find_conflicts, settle
from services.imports import RejectedRecords, import_read
from services.regressions import Regression, guarded, guarded_edit
from services.services import Services
from webapp.auth import User, require_curator
from webapp.callbacks import error_text, is_whole, parse_id, parse_number
from webapp.shown import bidi_closed, md

EDIT_COLUMNS = ("id", "status", "prompt", "target", "subject", "notes", "updated", "updated by")
NEIGHBOUR_COLUMNS = ("edit id", "why", "score", "prompt", "target")
IMPORT_ERROR_COLUMNS = ("where", "problem")
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
    edits = services.repository.list_edits(
        status_filter, search or None, offset=(page_no - 1) * size, limit=size, newest_first=True
    )
    rows = [
        [
            e.id,
            "active" if e.status == "active" else "✕ retired",
            e.prompt,
            e.target,
            e.subject or "",
            e.notes or "",
            e.updated_at.strftime("%Y-%m-%d %H:%M:%S") if e.updated_at else "",
            e.updated_by or "",
        ]
        for e in edits
    ]
    return rows, f"Page {page_no} of {pages} · {total} edit(s), newest first", page_no


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
    return [(f"#{e.id} [{e.status}] {bidi_closed(e.prompt)} → {bidi_closed(e.target)}", e.id) for e in reversed(edits)]


SETTLE_CHOICES = (
    ("Replace: the old edit takes this target", "replace"),
    ("Retire the old edit(s), then save this one", "retire"),
    ("Keep both on purpose (give a reason)", "keep"),
)


@dataclass(frozen=True)
class Checked:
    """A draft as it was checked, and the conflicting edits the curator was shown."""

    draft: EditDraft
    conflict_ids: tuple[int, ...]


def check_and_add(
    services: Services, user: User, prompt: str, target: str, subject: str = "", notes: str = ""
) -> tuple[str, list[list], Checked | None]:
    """Save the edit when it conflicts with nothing; else (warning, neighbour rows, the checked draft) and
    nothing is saved until the curator settles the conflict (settle_and_add)."""
    try:
        require_curator(user)
        draft = services.repository.clean_draft(EditDraft(prompt, target, subject or None, notes or None))
        conflicts = find_conflicts(services, [draft])[0]
        if not conflicts.any:
            (added, _), report = guarded(
                services, [draft.prompt], lambda: settle(services, draft, conflicts, user.name), _written
            )
            return _added(added) + probe_check(report), [], None
    except EditorError as exc:
        return error_text(exc), [], None
    message = (
        f"**Not saved — settle the conflict first:** this edit {md(conflicts.summary())}. "
        "Choose below: replace the old edit's target, retire it, or keep both with a reason."
    )
    return message, neighbour_rows(conflicts), Checked(draft, tuple(conflicts.ids()))


def settle_and_add(
    services: Services,
    user: User,
    checked: Checked | None,
    prompt: str,
    target: str,
    subject: str = "",
    notes: str = "",
    resolution: str = "",
    reason: str = "",
) -> tuple[str, list[list], Checked | None]:
    """Save the checked draft as the curator settled it. A draft changed since its check, or whose conflicts
    changed meanwhile, is checked again instead of saved (the new check is shown)."""
    try:
        require_curator(user)
        draft = services.repository.clean_draft(EditDraft(prompt, target, subject or None, notes or None))
        if checked is None or draft != checked.draft:
            message, rows, again = check_and_add(services, user, prompt, target, subject, notes)
            return "The draft changed since its check, so it was checked again. " + message, rows, again
        if not resolution:
            raise InvalidInput("choose how to settle the conflict (replace, retire or keep both)")
        conflicts = find_conflicts(services, [draft])[0]
        if tuple(conflicts.ids()) != checked.conflict_ids:
            message = f"**Not saved — the conflicts changed since the check:** this edit {md(conflicts.summary())}."
            return message, neighbour_rows(conflicts), Checked(draft, tuple(conflicts.ids()))
        (added, changed), report = guarded(
            services,
            [draft.prompt],
            lambda: settle(services, draft, conflicts, user.name, resolution, reason or None),
            _written,
        )
    except EditorError as exc:
        return error_text(exc), [], checked
    return _settled(added, changed) + probe_check(report), [], None


def _written(result: tuple[Edit | None, list[Edit]]) -> list[int]:
    """The ids a settle wrote: the new edit and the changed ones (their own probes are re-run too)."""
    added, changed = result
    return [e.id for e in changed] + ([added.id] if added else [])


def probe_check(report: Regression) -> str:
    """The probe check after a write, as a paragraph of its own (curators' text shown as text)."""
    return "\n\n" + md(report.summary())


def _added(edit: Edit | None) -> str:
    return f"Added edit #{edit.id}: {md(edit.prompt)} → **{md(edit.target)}**."


def _settled(added: Edit | None, changed: list[Edit]) -> str:
    parts = [_added(added)] if added else []
    retired = [e for e in changed if e.status == "retired"]
    replaced = [e for e in changed if e.status == "active"]
    if retired:
        parts.append("Retired " + ", ".join(f"#{e.id}" for e in retired) + " (recorded in the audit log).")
    if replaced:
        parts.append(
            "Edit "
            + ", ".join(f"#{e.id}" for e in replaced)
            + f" now answers **{md(replaced[0].target)}** (recorded as a change; no new edit)."
        )
    if added and not changed:
        parts.append("Both edits stay active; your reason is in the audit log.")
    return " ".join(parts)


def neighbour_rows(conflicts: Conflicts) -> list[list]:
    rows = [
        [c.edit.id, f"contradiction ({c.why}, other target)", _score(c), c.edit.prompt, c.edit.target]
        for c in conflicts.contradictions
    ]
    rows += [
        [c.edit.id, f"duplicate ({c.why}, same target)", _score(c), c.edit.prompt, c.edit.target]
        for c in conflicts.duplicates
    ]
    return rows


def _score(clash) -> str:
    return "" if clash.score is None else f"{clash.score:.3f}"


def retire(services: Services, user: User, edit_id: object, reason: str = "") -> str:
    return _state_change(
        services, services.retire, "Retired edit #{id}: it no longer routes (undo with Restore).", user, edit_id, reason
    )


def restore(services: Services, user: User, edit_id: object, reason: str = "") -> str:
    return _state_change(services, services.restore, "Restored edit #{id}: it routes again.", user, edit_id, reason)


def change_target(services: Services, user: User, edit_id: object, target: str, reason: str = "") -> str:
    try:
        require_curator(user)
        edit, report = guarded_edit(
            services, parse_id(edit_id), lambda i: services.change_target(i, target, user.name, reason or None)
        )
    except EditorError as exc:
        return error_text(exc)
    retired = " It is retired, so it routes nothing until restored." if edit.status != "active" else ""
    done = f"Edit #{edit.id}'s target is now **{md(edit.target)}** (recorded as a change in the audit log).{retired}"
    return done + probe_check(report)


def _state_change(services: Services, action: Callable, done: str, user: User, edit_id: object, reason: str) -> str:
    try:
        require_curator(user)
        edit, report = guarded_edit(services, parse_id(edit_id), lambda i: action(i, user.name, reason or None))
    except EditorError as exc:
        return error_text(exc)
    return done.format(id=edit.id) + probe_check(report)


def import_file(
    services: Services,
    user: User,
    path: str | None,
    fmt: str = "auto",
    skip_invalid: bool = False,
    progress: Callable[[float, str], None] | None = None,
    on_conflict: str = "refuse",
) -> tuple[str, list[list]]:
    """Import a JSONL/CSV/CounterFact/zsRE file in batches; (summary, one row per rejected record). All-or-nothing
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
            on_conflict or "refuse",
        )
    except RejectedRecords as exc:
        return (
            f"**Nothing imported:** {len(exc.rejected)} of {exc.total} records rejected "
            "(see below). Fix them, or tick *import the valid records*.",
            _error_rows(exc.rejected, exc.unit),
        )
    except EditorError as exc:
        return error_text(exc), []
    tail = f"; rejected {len(result.rejected)} (see below)" if result.rejected else ""
    return (
        f"Imported {result.imported} edits with {result.probes} probe prompts{tail}.",
        _error_rows(result.rejected, result.unit),
    )


def _error_rows(rejected: list[tuple[int, str]], unit: str) -> list[list]:
    """One row per rejected record: 'line 4' of a JSONL or CSV file, 'record 4' of a JSON list."""
    return [[place(unit, number), message] for number, message in rejected]


def _check_upload_size(path: Path) -> None:
    try:
        size = path.stat().st_size if path.is_file() else 0  # a missing path or folder: read_edit_file says so
    except OSError:
        return
    if size > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"{path.name} is {size} bytes; the upload limit is {MAX_UPLOAD_BYTES} bytes")
