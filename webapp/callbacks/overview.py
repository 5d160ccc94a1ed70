"""Overview tab callbacks: the log at a glance: edits by status, which trained parts serve, the newest
activity, and every failing probe (services.regressions: the routing verdict), each linked to its edit's page.

Invariants: read-only; the failing-probe list says how much of the log it checked (the whole log, or the
newest edits' probes up to a limit when the page loads); curators' text is shown as text (the links are the
app's own `?edit=N` addresses).
"""

from __future__ import annotations

from core.errors import EditorError
from services import regressions
from services.services import Services
from services.stats import stats
from webapp.auth import User
from webapp.callbacks import audit, error_text
from webapp.shown import md

FAILING_COLUMNS = ("edit", "kind", "prompt", "routes to", "why")
FAILING_TYPES = ["markdown", "str", "str", "str", "str"]  # only the edit link is Markdown (the app's own text)
RECENT = 10
_RECENT_SHOWN = [i for i, c in enumerate(audit.AUDIT_COLUMNS) if c != "id"]
RECENT_COLUMNS = tuple(audit.AUDIT_COLUMNS[i] for i in _RECENT_SHOWN)  # the Audit tab's columns but its row id
LOAD_LIMIT = 500  # probes checked when the page loads; "Check every probe" checks the whole log


def models_line(services: Services) -> str:
    """Which learned parts serve: trained checkpoints or the untrained defaults (core.loading.trained_parts), and
    a remote base model's URL and state."""
    parts = getattr(services.editor, "trained_parts", None) or {}
    shown = [
        f"{label}: {parts[key]['description']}"
        for key, label in (("scope_classifier", "scope"), ("counterfactual", "counterfactual"))
        if key in parts
    ]
    base = services.editor.base
    if hasattr(base, "status"):  # a remote base (core.remote_base): where it is and whether it answers
        shown.append(f"base model: {base.label} ({base.status()})")
    return " · ".join(shown)


def status_text(services: Services) -> str:
    """Edits by status, the audit log's size, and what serves (parts, threshold, index)."""
    figures = stats(services)
    edits, index = figures["edits"], figures["index"]
    in_step = "holds exactly the active edits" if index["consistent"] else "**differs from the log** (restart)"
    parts = models_line(services) or "the parts this editor was built with (no trained-parts record)"
    return "\n\n".join(
        [
            f"### {_count(edits['total'], 'edit')}: **{edits['active']} active**, {edits['retired']} retired",
            f"{_count(figures['audit']['rows'], 'audit entry', 'audit entries')} · "
            f"routing threshold **{figures['threshold']:.2f}** · the index ({_count(index['size'], 'edit')}) {in_step}",
            f"**Serving:** {md(parts)}",
        ]
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def recent_rows(services: Services, user: User) -> list[list]:
    """The newest audit entries, as the Audit tab shows them."""
    rows, _ = audit.audit_rows(services, user)
    return [[row[i] for i in _RECENT_SHOWN] for row in rows[:RECENT]]


def failing_view(services: Services, limit: int | None = LOAD_LIMIT) -> tuple[str, list[list]]:
    """(a note on what was checked, one row per failing probe with the reason in words)."""
    scan = regressions.failing_probes(services, limit)
    scope = (
        f"the newest {scan.edits} of {scan.active} active edits ({scan.checked} probes; "
        "press *Check every probe* for the whole log)"
        if scan.partial
        else f"all {scan.active} active edits ({scan.checked} probes)"
    )
    verdict = f"**{len(scan.failing)} failing**" if scan.failing else "**none failing**"
    note = f"Probe sets as regression tests: checked {scope}: {verdict}."
    return note, [failing_row(c) for c in scan.failing]


def failing_row(check: regressions.ProbeCheck) -> list:
    edit, routed = check.probe.edit, check.routed_to
    return [
        f"[#{edit.id}](?edit={edit.id})",
        regressions.KINDS[check.probe.kind],
        check.probe.prompt,
        f"#{routed.id} → {routed.target}" if routed else "base model",
        check.reason(),
    ]


def overview(services: Services, user: User, limit: int | None = LOAD_LIMIT) -> tuple[str, str, list, list]:
    """(status, failing note, failing rows, recent activity rows); the probe check is heavy work, admitted by
    services.heavy (a refusal is the note, the rest still shows)."""
    try:
        with services.heavy.admit(user.name):
            note, failing = failing_view(services, limit)
    except EditorError as exc:
        note, failing = error_text(exc), []
    return status_text(services), note, failing, recent_rows(services, user)
