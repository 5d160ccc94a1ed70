"""Conflict checks before an edit is saved: does the new prompt fall in an active edit's scope, or contradict one?

- contradiction: an active edit with the same prompt (case and spacing ignored) and another target;
- duplicate: an active edit with the same prompt and the same target;
- in scope: an active edit whose scope score for the new prompt is at or above the threshold (the new
  edit would be shadowed by it, or would shadow it).
Invariant: checking never writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.text import normalize_answer
from core.types import Candidate, Edit, EditDraft, RoutingDecision
from services.services import Services


@dataclass(frozen=True)
class Conflicts:
    contradictions: tuple[Edit, ...] = ()
    duplicates: tuple[Edit, ...] = ()
    in_scope: tuple[Candidate, ...] = field(default=())
    threshold: float = 0.5

    @property
    def any(self) -> bool:
        return bool(self.contradictions or self.duplicates or self.in_scope)

    def summary(self) -> str:
        parts = []
        if self.contradictions:
            parts.append("contradicts " + ", ".join(f"#{e.id} (→ {e.target})" for e in self.contradictions))
        if self.duplicates:
            parts.append("duplicates " + ", ".join(f"#{e.id}" for e in self.duplicates))
        if self.in_scope:
            parts.append(
                f"falls in the scope of {len(self.in_scope)} active edit(s) (score ≥ {self.threshold:.2f}): "
                + ", ".join(f"#{c.edit.id} ({c.score:.2f})" for c in self.in_scope)
            )
        return "; ".join(parts) or "no conflicts"

    def to_dict(self) -> dict:
        return {
            "contradictions": [e.to_dict() for e in self.contradictions],
            "duplicates": [e.to_dict() for e in self.duplicates],
            "in_scope": [
                dict(c.edit.to_dict(), score=round(c.score, 6), similarity=round(c.similarity, 6))
                for c in self.in_scope
            ],
            "threshold": self.threshold,
        }


def find_conflicts(services: Services, draft: EditDraft) -> Conflicts:
    """Score the draft's prompt against the active edits and look for the same prompt (validated first)."""
    return find_conflicts_many(services, [draft])[0]


def find_conflicts_many(services: Services, drafts: Sequence[EditDraft]) -> list[Conflicts]:
    """find_conflicts for several drafts with one routing pass (one model batch); all are validated first."""
    drafts = [services.repository.clean_draft(d) for d in drafts]
    decisions = services.route([d.prompt for d in drafts]) if drafts else []
    return [_conflicts(services, d, decision) for d, decision in zip(drafts, decisions)]


def _conflicts(services: Services, draft: EditDraft, decision: RoutingDecision) -> Conflicts:
    same_prompt = [
        e for e in services.repository.list_edits(status="active", search=draft.prompt) if _same(e.prompt, draft.prompt)
    ]
    contradictions = tuple(e for e in same_prompt if not _same(e.target, draft.target))
    duplicates = tuple(e for e in same_prompt if _same(e.target, draft.target))
    known = {e.id for e in same_prompt}
    in_scope = tuple(c for c in decision.candidates if c.score >= decision.threshold and c.edit.id not in known)
    return Conflicts(contradictions, duplicates, in_scope, decision.threshold)


def _same(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)
