"""Probe tab callbacks: ask any prompt, or run an edit's probe set (its prompt, paraphrases, unrelated prompts).

A probe set row passes when the system did what the curator expects: an in-scope prompt is routed to this
edit and answered with its new target; an out-of-scope prompt keeps the base model's answer.
Invariant: probing writes only to the probe log (and, for `add_probe`, one probe prompt with its audit row).
"""

from __future__ import annotations

import plotly.graph_objects as go

from core.errors import EditorError
from core.text import answer_starts_with, same_answer
from core.types import Edit, RoutingRecord
from services.services import Services
from webapp.auth import User, require_curator
from webapp.callbacks import error_text, parse_id
from webapp.figures import empty_figure, probe_set_figure, scores_figure
from webapp.shown import md

CANDIDATE_COLUMNS = ("edit id", "score", "similarity", "prompt", "target")
PROBE_COLUMNS = ("result", "expect", "prompt", "routed to", "top score", "base answer", "edited answer")
# Out-of-scope prompts used when an edit has none of its own: general facts no edit in a test set targets.
DEFAULT_UNRELATED = ("The capital of France is", "Water is made of hydrogen and")


def probe_prompt(services: Services, user: User, prompt: str) -> tuple[str, str, str, go.Figure, list[list]]:
    """(decision in words, base answer, edited answer, score chart, candidate rows) for one prompt."""
    try:
        with services.heavy.admit(user.name):  # services.limits: Busy / RateLimited, shown as the error
            record = services.ask([prompt], user.name)[0]
    except EditorError as exc:
        return error_text(exc), "", "", empty_figure("No probe yet"), []
    return (
        f"Asked: “{md(record.decision.query)}”\n\n{decision_text(record)}",
        record.base_answer or "",
        record.edited_answer,
        scores_figure(record),
        candidate_rows(record),
    )


def probe_set(services: Services, edit: Edit) -> list[tuple[str, str, str]]:
    """(expect, prompt, source) rows: the edit prompt, its stored probes, default unrelated ones if it has none."""
    stored = services.probes_for([edit.id])[edit.id]
    rows = [("in", edit.prompt, "edit prompt")] + [(p.expect, p.prompt, p.source) for p in stored]
    if not any(expect == "out" for expect, _, _ in rows):
        rows += [("out", p, "default") for p in DEFAULT_UNRELATED]
    return rows


def probe_edit(services: Services, user: User, edit_id: object) -> tuple[str, list[list], go.Figure]:
    """Run an edit's probe set: (summary, one row per probe with pass/fail first, chart of the set's top scores
    against the threshold, coloured by pass/fail)."""
    try:
        edit = services.repository.get(parse_id(edit_id))
        probes = probe_set(services, edit)
        with services.heavy.admit(user.name):
            records = services.ask([prompt for _, prompt, _ in probes], user.name)
    except EditorError as exc:
        return error_text(exc), [], empty_figure("No probe yet")
    rows = [probe_row(edit, expect, record) for (expect, _, _), record in zip(probes, records)]
    passed = sum(row[0] == "pass" for row in rows)
    status = "" if edit.status == "active" else " (this edit is retired, so in-scope probes are expected to fail)"
    summary = f"Edit #{edit.id} {md(edit.prompt)} → **{md(edit.target)}**: {passed} of {len(rows)} probes pass{status}."
    figure = probe_set_figure(
        [row[2] for row in rows],
        [r.decision.candidates[0].score if r.decision.candidates else 0.0 for r in records],
        [row[0] == "pass" for row in rows],
        [row[1] for row in rows],
        services.editor.threshold,
    )
    return summary, rows, figure


def probe_row(edit: Edit, expect: str, record: RoutingRecord) -> list:
    chosen = record.chosen_edit
    top = record.decision.candidates[0].score if record.decision.candidates else None
    return [
        "pass" if passes(edit, expect, record) else "fail",
        ("in scope" if expect == "in" else "out of scope"),
        record.query,
        f"edit #{chosen.id}" if chosen else "base model",
        round(top, 4) if top is not None else "",
        record.base_answer or "",
        record.edited_answer,
    ]


def passes(edit: Edit, expect: str, record: RoutingRecord) -> bool:
    """In scope: routed to this edit and answered with its target. Out of scope: the answer did not change."""
    if expect == "in":
        return (
            record.chosen_edit is not None
            and record.chosen_edit.id == edit.id
            and answer_starts_with(record.edited_answer, edit.target)
        )
    return same_answer(record.edited_answer, record.base_answer)


def add_probe(services: Services, user: User, edit_id: object, prompt: str, expect: str) -> str:
    try:
        require_curator(user)
        probe = services.add_probe(parse_id(edit_id), prompt, _expect(expect), user.name)
    except EditorError as exc:
        return error_text(exc)
    scope = "in scope" if probe.expect == "in" else "out of scope"
    return f"Kept “{md(probe.prompt)}” with edit #{probe.edit_id} as an {scope} probe."


def decision_text(record: RoutingRecord) -> str:
    d = record.decision
    if d.chosen:
        e = d.chosen.edit
        sentence = (
            f"**Routed to the counterfactual model**: edit #{e.id} ({md(e.prompt)} → **{md(e.target)}**) "
            f"scored {d.chosen.score:.3f}, at or above the threshold {d.threshold:.2f}."
        )
        return sentence + _rivals(d) + _mismatch(record)
    if d.candidates:
        return (
            f"**Routed to the base model**: the best candidate (edit #{d.candidates[0].edit.id}) "
            f"scored {d.candidates[0].score:.3f}, below the threshold {d.threshold:.2f}."
        )
    return "**Routed to the base model**: there are no active edits."


TIE = 0.005  # scores this close to the chosen edit's are a tie: which edit answers is then a coin toss


def _rivals(d) -> str:
    """Other edits in scope of the query: ties with the chosen edit, and contradictions (another target)."""
    others = [c for c in d.candidates if c is not d.chosen and c.score >= d.threshold]
    ties = [c for c in others if d.chosen.score - c.score <= TIE]
    contradicting = [c for c in others if not same_answer(c.edit.target, d.chosen.edit.target)]
    parts = []
    if ties:
        parts.append("**Tie** with " + ", ".join(f"#{c.edit.id} ({c.score:.3f})" for c in ties) + ".")
    if contradicting:
        parts.append(
            "**Contradiction**: also in scope, with another target: "
            + ", ".join(f"#{c.edit.id} (→ {md(c.edit.target)})" for c in contradicting)
            + ". Settle it in the Edits tab."
        )
    return (" " + " ".join(parts)) if parts else ""


def _mismatch(record: RoutingRecord) -> str:
    """A routed answer that does not start with the chosen edit's target is flagged."""
    target = record.decision.chosen.edit.target
    if answer_starts_with(record.edited_answer, target):
        return ""
    return f" **Check the answer**: it does not start with the edit's target **{md(target)}**."


def candidate_rows(record: RoutingRecord) -> list[list]:
    return [
        [c.edit.id, round(c.score, 4), round(c.similarity, 4), c.edit.prompt, c.edit.target]
        for c in record.decision.candidates
    ]


def _expect(value: str) -> str:
    value = (value or "").strip().lower()
    return {"in scope": "in", "out of scope": "out"}.get(value, value)
