"""Edit page callbacks: one edit's details, its probe set with pass/fail (the routing verdict of
services.regressions), its neighbours in the edit memory, its own audit history, and its actions (retire,
restore, change target, add a probe), each of which re-shows the page.

Invariants: opening a page only reads (routing, no generation); the actions are the Edits and Probe tabs'
own callbacks (services/, the one conflict rule, the probe check after a write, probe-prompt storage), so a
write from this page is checked, audited and refused exactly as there; a viewer sees everything, and every
action button is disabled for them (the callbacks refuse them anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import EditorError
from core.text import same_answer
from core.types import Edit
from services import regressions
from services.services import Services
from webapp.auth import User
from webapp.callbacks import audit, error_text, parse_id
from webapp.callbacks import edits as edit_cb
from webapp.callbacks import probe as probe_cb
from webapp.shown import md

PROBE_COLUMNS = ("kind", "prompt", "routes to", "score", "result", "why")
NEIGHBOUR_COLUMNS = ("edit id", "similarity", "scope score", "prompt", "target", "same target")
_SHOWN = [i for i, c in enumerate(audit.AUDIT_COLUMNS) if c not in ("id", "edit")]  # the page names its edit
HISTORY_COLUMNS = tuple(audit.AUDIT_COLUMNS[i] for i in _SHOWN)  # the Audit tab's rows, for this edit
CHOOSE = "Choose an edit: click a row of the Edits tab, type its id above, or open a link such as `/?edit=12`."


@dataclass(frozen=True)
class EditView:
    """Everything the page shows for one edit (or an error / an empty page), and which actions it allows."""

    details: str
    probe_summary: str = ""
    probes: list[list] = field(default_factory=list)
    neighbours: list[list] = field(default_factory=list)
    history: list[list] = field(default_factory=list)
    can_retire: bool = False
    can_restore: bool = False
    can_change: bool = False  # change target and add a probe

    def outputs(self) -> tuple:
        return (self.details, self.probe_summary, self.probes, self.neighbours, self.history)


def open_edit(services: Services, user: User, edit_id: object) -> EditView:
    """The page of one edit; a clear message (and nothing else) for a missing or unknown id."""
    if edit_id is None or (isinstance(edit_id, str) and not edit_id.strip()):
        return EditView(CHOOSE)
    try:
        edit = services.repository.get(parse_id(edit_id))
        with services.heavy.admit(user.name):  # services.limits: Busy / RateLimited, shown as the error
            checks = (
                regressions.check_edits(services, [edit.id]) if edit.status == "active" else _retired(services, edit)
            )
            neighbours = neighbour_rows(services, edit)
    except EditorError as exc:
        return EditView(error_text(exc))
    rows, _ = audit.audit_rows(services, user, edit.id)
    history = [[row[i] for i in _SHOWN] for row in rows]
    active, writer = edit.status == "active", user.can_write
    return EditView(
        details_text(edit),
        probe_summary(edit, checks),
        [probe_row(c) for c in checks],
        neighbours,
        history,
        can_retire=writer and active,
        can_restore=writer and not active,
        can_change=writer,
    )


def open_from_url(services: Services, user: User, query: dict) -> tuple[int | None, EditView]:
    """(the id for the id box, the page) for `?edit=N` in the page's address (a link or a bookmark); the
    empty page without one, an error for a bad one."""
    raw = (query or {}).get("edit")
    view = open_edit(services, user, raw)
    try:
        return (parse_id(raw) if raw else None), view
    except EditorError:
        return None, view


def _retired(services: Services, edit: Edit) -> list[regressions.ProbeCheck]:
    """A retired edit's probe set, routed as things stand (its in-scope probes cannot reach it)."""
    return regressions.check_probes(services, regressions.probe_sets(services, [edit]))


def details_text(edit: Edit) -> str:
    status = "active" if edit.status == "active" else "✕ retired (routes nothing; Restore brings it back)"
    lines = [
        f"### Edit #{edit.id} · {status}",
        f"**Prompt:** {md(edit.prompt)}  \n**Target:** {md(edit.target)}",
        f"**Subject:** {md(edit.subject or '(none)')} · **Note:** {md(edit.notes or '(none)')}",
        f"Added {_when(edit.created_at)} by {md(edit.created_by or '?')} · "
        f"last changed {_when(edit.updated_at)} by {md(edit.updated_by or '?')}",
    ]
    return "\n\n".join(lines)


def _when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "(unknown)"


def probe_summary(edit: Edit, checks: list[regressions.ProbeCheck]) -> str:
    passed = sum(c.passed for c in checks)
    text = f"**{passed} of {len(checks)} probes pass** (routing check: in scope → this edit, out of scope → base)."
    if edit.status != "active":
        text += " This edit is retired, so its prompt and paraphrases cannot route to it."
    return text + " The Probe tab runs the set with both answers."


def probe_row(check: regressions.ProbeCheck) -> list:
    routed = check.routed_to
    return [
        regressions.KINDS[check.probe.kind],
        check.probe.prompt,
        f"#{routed.id} → {routed.target}" if routed else "base model",
        "" if check.score is None else f"{check.score:.3f}",
        "✓ pass" if check.passed else "✗ FAIL",
        check.reason(),
    ]


def neighbour_rows(services: Services, edit: Edit) -> list[list]:
    """The active edits nearest to this edit's prompt (top-k by embedding), with their scope score for it."""
    decision = services.route([edit.prompt])[0]
    return [
        [
            c.edit.id,
            f"{c.similarity:.3f}",
            f"{c.score:.3f}",
            c.edit.prompt,
            c.edit.target,
            "yes" if same_answer(c.edit.target, edit.target) else "no",
        ]
        for c in decision.candidates
        if c.edit.id != edit.id
    ]


# ---- actions: the Edits and Probe tabs' callbacks, then the page again --------------------------------------
def retire(services: Services, user: User, edit_id: object, reason: str = "") -> tuple[str, EditView]:
    return edit_cb.retire(services, user, edit_id, reason), open_edit(services, user, edit_id)


def restore(services: Services, user: User, edit_id: object, reason: str = "") -> tuple[str, EditView]:
    return edit_cb.restore(services, user, edit_id, reason), open_edit(services, user, edit_id)


def change_target(
    services: Services, user: User, edit_id: object, target: str, reason: str = ""
) -> tuple[str, EditView]:
    return edit_cb.change_target(services, user, edit_id, target, reason), open_edit(services, user, edit_id)


def add_probe(services: Services, user: User, edit_id: object, prompt: str, expect: str) -> tuple[str, EditView]:
    """Keep a probe with the edit; the page then shows it with its pass/fail."""
    message = probe_cb.add_probe(services, user, edit_id, prompt, expect)
    return message, open_edit(services, user, edit_id)
