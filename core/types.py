"""Value types shared by every layer: edits, scored candidates and the routing record.

All are frozen; a RoutingRecord is the full account of one query (what was retrieved, how it
scored, which way it was routed, both answers and the time each step took).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

Route = Literal["base", "counterfactual"]
EditStatus = Literal["active", "retired"]


@dataclass(frozen=True)
class EditDraft:
    """An edit descriptor before it has an id: the input and its new output."""

    prompt: str
    target: str
    subject: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Edit:
    """An edit in the memory: "the answer to `prompt` is now `target`"."""

    id: int
    prompt: str
    target: str
    subject: str | None = None
    notes: str | None = None
    status: EditStatus = "active"
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    def to_dict(self) -> dict:
        """The edit as JSON: the one shape the API, the CLI (`list --json`), routing records and conflict
        reports use; times are ISO 8601 (None before the edit log stored it)."""
        return {
            "id": self.id,
            "prompt": self.prompt,
            "target": self.target,
            "subject": self.subject,
            "notes": self.notes,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Candidate:
    """An edit retrieved for a query: `similarity` from the index, `score` from the scope classifier."""

    edit: Edit
    similarity: float
    score: float = 0.0


@dataclass(frozen=True)
class RoutingDecision:
    """Which edit (if any) governs a query, and why."""

    query: str
    candidates: tuple[Candidate, ...]
    chosen: Candidate | None
    threshold: float

    @property
    def route(self) -> Route:
        return "counterfactual" if self.chosen is not None else "base"


def unrouted(queries: Sequence[str], threshold: float) -> list[RoutingDecision]:
    """The decisions when no edit can govern (no active edit): every query goes to the base model."""
    return [RoutingDecision(q, (), None, threshold) for q in queries]


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent per step for one query (batched steps are shared equally)."""

    embed_ms: float = 0.0
    retrieve_ms: float = 0.0
    score_ms: float = 0.0
    base_ms: float = 0.0
    counterfactual_ms: float = 0.0

    @property
    def route_ms(self) -> float:
        return self.embed_ms + self.retrieve_ms + self.score_ms


@dataclass(frozen=True)
class RoutingRecord:
    """Everything the system did for one query."""

    decision: RoutingDecision
    base_answer: str | None
    edited_answer: str
    timings: Timings = field(default_factory=Timings)

    @property
    def query(self) -> str:
        return self.decision.query

    @property
    def route(self) -> Route:
        return self.decision.route

    @property
    def chosen_edit(self) -> Edit | None:
        return self.decision.chosen.edit if self.decision.chosen else None

    def to_dict(self) -> dict:
        """A JSON-ready dict; the shape the CLI and the REST API print."""
        return {
            "query": self.query,
            "route": self.route,
            "threshold": self.decision.threshold,
            "chosen_edit": self.chosen_edit.to_dict() if self.chosen_edit else None,
            "chosen_score": self.decision.chosen.score if self.decision.chosen else None,
            "candidates": [_candidate_dict(c) for c in self.decision.candidates],
            "base_answer": self.base_answer,
            "edited_answer": self.edited_answer,
            "timings_ms": {**asdict(self.timings), "route_ms": self.timings.route_ms},
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _candidate_dict(c: Candidate) -> dict:
    return {
        "edit_id": c.edit.id,
        "prompt": c.edit.prompt,
        "target": c.edit.target,
        "similarity": round(c.similarity, 6),
        "score": round(c.score, 6),
    }
