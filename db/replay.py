"""Replaying the audit log against the tables it describes, and the chain's head kept elsewhere.

The hash chain (db.audit) proves the audit rows were not altered, removed or reordered; it says nothing
about the `edits` table itself. `replay_problems` closes that gap: every edit's current prompt, target,
subject, notes, status, created_by and updated_by must be what its audit rows say (the last row's
"after" snapshot), each row's "before" must be the previous row's "after", the curator probe prompts must
be exactly those of the 'add-probe' rows, and each stored setting must be its last 'setting' row's value.

Invariants:
- reading only: one snapshot, no write; a mismatch is one line naming the edit (or setting) and the field;
- an edit row with no audit row, or an audited edit missing from the table, is a mismatch;
- imported probe prompts have no audit rows of their own (the import's edit rows record the edits), so
  they cannot be replayed; they never change routing or answers.
The head ("ID:HASH" of the newest row, `head_of`) kept outside the database lets `check_head` detect a
truncated tail, which the chain alone cannot (a chain cut at its end is still a valid chain).
"""

from __future__ import annotations

import json
from collections import Counter

import sqlalchemy as sa

from core.errors import InvalidInput
from db.models import audit_log, edits, probe_prompts, settings

EDIT_FIELDS = ("prompt", "target", "subject", "notes", "status")
TABLE_FIELDS = (*EDIT_FIELDS, "created_by", "updated_by")  # what the replay compares, in this order
MAX_PROBLEMS = 50  # more than this many mismatches are counted, not listed


def head_of(conn: sa.Connection) -> str | None:
    """'ID:HASH' of the newest audit row (None for an empty log): one line to keep outside the database."""
    row = conn.execute(sa.select(audit_log.c.id, audit_log.c.row_hash).order_by(audit_log.c.id.desc()).limit(1)).first()
    return None if row is None else f"{row.id}:{row.row_hash}"


def check_head(conn: sa.Connection, head: str) -> str | None:
    """None when the row named by a head kept earlier ('ID:HASH') is still there with that hash; else why not."""
    row_id, hash_ = parse_head(head)
    stored = conn.execute(sa.select(audit_log.c.row_hash).where(audit_log.c.id == row_id)).scalar()
    if stored is None:
        last = conn.execute(sa.select(sa.func.max(audit_log.c.id))).scalar() or 0
        return f"head row {row_id} is gone (the log ends at row {last}): rows were removed from its end"
    if stored != hash_:
        return f"head row {row_id} has hash {stored[:12]}..., the kept head says {hash_[:12]}...: the log was rewritten"
    return None


def parse_head(head: str) -> tuple[int, str]:
    """(ID, HASH) from 'ID:HASH'; InvalidInput with one clear line otherwise."""
    row_id, sep, hash_ = head.strip().partition(":")
    hash_ = hash_.lower()
    if not sep or not row_id.isdigit() or len(hash_) != 64 or any(c not in "0123456789abcdef" for c in hash_):
        raise InvalidInput(
            f"a head is 'ID:HASH' as `audit head` prints it (a row id, ':', 64 hex digits), got {head!r}"
        )
    return int(row_id), hash_


def replay_problems(conn: sa.Connection) -> list[str]:
    """Every disagreement between the audit rows and the edits, probe_prompts and settings tables."""
    history: dict[int, list] = {}
    probe_rows: Counter = Counter()
    last_setting: dict[str, tuple[object, str]] = {}
    problems: list[str] = []
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)):
        kind, value = classify(row.action, row.edit_id, row.before, row.after)
        if kind == "setting":
            note_setting(last_setting, value, row.actor)
        elif kind == "probe":
            probe_rows[value] += 1
        elif kind == "history":
            history.setdefault(row.edit_id, []).append((row.id, row.actor, *value))
    problems += _edit_problems(conn, history)
    problems += _probe_problems(conn, probe_rows)
    problems += setting_problems(conn, last_setting)
    return problems


def note_setting(last: dict[str, tuple[object, str]], values: dict | None, actor: str) -> None:
    """A setting row's values as each key's latest (value, actor), which the settings table must hold."""
    for key, value in (values or {}).items():
        last[key] = (value, actor)


def classify(action: str, edit_id: int | None, before: str | None, after: str | None) -> tuple[str, object]:
    """What an audit row means to the replay: ("setting", its values), ("probe", (edit id, prompt, expect)),
    ("history", (before, after) parsed) for a row about an edit, else ("none", None)."""
    parsed = json.loads(after) if after else None
    if action == "setting":
        return "setting", parsed
    if action == "add-probe" and edit_id is not None and parsed:
        return "probe", (edit_id, parsed.get("prompt"), parsed.get("expect"))
    if edit_id is not None:
        return "history", (json.loads(before) if before else None, parsed)
    return "none", None


def _edit_problems(conn: sa.Connection, history: dict[int, list]) -> list[str]:
    problems = []
    seen = set()
    for row in conn.execute(sa.select(edits).order_by(edits.c.id)):
        seen.add(row.id)
        problems += edit_problems(row.id, tuple(getattr(row, f) for f in TABLE_FIELDS), history.get(row.id))
    return problems + [missing_line(i) for i in sorted(set(history) - seen)]


def edit_problems(edit_id: int, values: tuple, rows: list | None) -> list[str]:
    """The problems of one edit's table row (its TABLE_FIELDS `values`) against its history rows (audit id, actor,
    before, after), oldest first (None: no audit row records it)."""
    if not rows:
        return [f"edit #{edit_id}: in the table but no audit row records it (added behind the app's back)"]
    problems = _chain_of_states(edit_id, rows)
    after = dict(rows[-1][3] or {})
    wanted = (*(after.get(f) for f in EDIT_FIELDS), rows[0][1], rows[-1][1])
    if values != wanted:  # one comparison; each field is named only when some differs
        for field, have, want in zip(TABLE_FIELDS, values, wanted):
            if have != want:
                problems.append(f"edit #{edit_id}: {field} is {have!r} in the table, the audit says {want!r}")
    return problems


def missing_line(edit_id: int) -> str:
    return f"edit #{edit_id}: the audit records it but it is missing from the table"


def _chain_of_states(edit_id: int, rows: list) -> list[str]:
    """Each row's "before" is the previous row's "after"; the first row creates the edit (no "before")."""
    problems, previous = [], None
    for audit_id, _, before, after in rows:
        if before != previous:
            problems.append(f"edit #{edit_id}: audit row {audit_id} starts from a state no earlier row left it in")
        if not isinstance(after, dict) or not set(EDIT_FIELDS) <= set(after):
            problems.append(f"edit #{edit_id}: audit row {audit_id} has no snapshot of the edit")
            after = None
        previous = after
    return problems


def _probe_problems(conn: sa.Connection, audited: Counter) -> list[str]:
    query = sa.select(probe_prompts.c.edit_id, probe_prompts.c.prompt, probe_prompts.c.expect).where(
        probe_prompts.c.source == "curator"
    )
    return probe_lines(Counter(tuple(r) for r in conn.execute(query)), audited)


def probe_lines(stored: Counter, audited: Counter) -> list[str]:
    """The curator probe prompts (edit id, prompt, expect) the table holds and no audit row added, then those the
    audit added that the table lacks."""
    problems = [
        f"edit #{e}: curator probe prompt {p!r} ({x}) is in the table but no audit row added it"
        for (e, p, x) in sorted(stored - audited, key=str)
    ]
    problems += [
        f"edit #{e}: the audit added curator probe prompt {p!r} ({x}) but it is missing from the table"
        for (e, p, x) in sorted(audited - stored, key=str)
    ]
    return problems


def setting_problems(conn: sa.Connection, audited: dict[str, tuple[object, str]]) -> list[str]:
    problems = []
    stored = {r.key: (r.value, r.updated_by) for r in conn.execute(sa.select(settings))}
    for key in sorted(set(stored) | set(audited)):
        if key not in audited:
            problems.append(f"setting {key!r}: {stored[key][0]!r} in the table but no audit row set it")
        elif key not in stored:
            problems.append(
                f"setting {key!r}: the audit sets it to {audited[key][0]!r} but it is missing from the table"
            )
        elif stored[key][0] != str(audited[key][0]):
            problems.append(
                f"setting {key!r}: {stored[key][0]!r} in the table, the audit says {str(audited[key][0])!r}"
            )
        elif stored[key][1] != audited[key][1]:
            problems.append(
                f"setting {key!r}: set by {stored[key][1]!r} in the table, the audit says {audited[key][1]!r}"
            )
    return problems
