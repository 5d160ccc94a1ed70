"""UI callbacks as plain functions `(services, *inputs) -> outputs`, so tests call them directly.

Invariant: a callback never raises for a user mistake; it returns the error as a message and
leaves the log and the index unchanged.
"""

from __future__ import annotations

from core.errors import EditorError
from core.types import EditDraft, RoutingRecord
from webapp.services import Services

CANDIDATE_COLUMNS = ("edit id", "score", "similarity", "prompt", "target")
EDIT_COLUMNS = ("id", "status", "prompt", "target", "subject", "updated by")


def probe(services: Services, prompt: str, actor: str) -> tuple[str, str, str, list[list]]:
    """Ask one prompt: (decision in words, base answer, edited answer, candidate rows)."""
    try:
        record = services.ask([prompt], actor)[0]
    except EditorError as exc:
        return f"**Error:** {exc}", "", "", []
    return decision_text(record), record.base_answer or "", record.edited_answer, candidate_rows(record)


def add_edit(services: Services, prompt: str, target: str, actor: str) -> tuple[str, list[list]]:
    try:
        edit = services.add_edit(EditDraft(prompt, target), actor)
    except EditorError as exc:
        return f"**Error:** {exc}", edit_rows(services)
    return f"Added edit #{edit.id}.", edit_rows(services)


def edit_rows(services: Services, limit: int = 200) -> list[list]:
    return [[e.id, e.status, e.prompt, e.target, e.subject or "", e.updated_by]
            for e in services.repository.list_edits(limit=limit)]


def decision_text(record: RoutingRecord) -> str:
    d = record.decision
    if d.chosen:
        e = d.chosen.edit
        return (f"**Routed to the counterfactual model**: edit #{e.id} (*{e.prompt}* → **{e.target}**) "
                f"scored {d.chosen.score:.3f}, at or above the threshold {d.threshold:.2f}.")
    if d.candidates:
        return (f"**Routed to the base model**: the best candidate (edit #{d.candidates[0].edit.id}) "
                f"scored {d.candidates[0].score:.3f}, below the threshold {d.threshold:.2f}.")
    return "**Routed to the base model**: there are no active edits."


def candidate_rows(record: RoutingRecord) -> list[list]:
    return [[c.edit.id, round(c.score, 4), round(c.similarity, 4), c.edit.prompt, c.edit.target]
            for c in record.decision.candidates]
