"""The one conflict rule for every door that adds edits (the UI, POST /api/edits, `app.py add` and imports).

A new edit (draft) conflicts with an active edit when the draft's prompt is that edit's prompt (case,
spacing and edge punctuation ignored) or falls in its scope (the scope classifier's score is at or above
the threshold), and:
- contradiction: their targets differ ("the answer is now Paris" against "... Lyon");
- duplicate: their targets are the same (the draft adds nothing).
Drafts saved together (an import, concurrent API adds) are also checked against each other: two with
the same prompt and different targets contradict.

The curator settles each conflict (`Resolution`):
- refuse (the default): nothing is saved; the conflicts are reported;
- replace: the contradicted edits take the draft's target (recorded as changes); no new edit;
- retire: the conflicting edits are retired and the draft is added, in one transaction;
- keep: the draft is added beside them on purpose; a reason is required and kept in the audit log.

The same-prompt check uses the retrieved candidates (an identical prompt embeds identically, so it comes
first), so checking a batch costs one routing pass and no query per draft.

Invariants: checking never writes; settling writes in one transaction (EditRepository.resolve) and only
after the check it settles was made on that very draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidInput, StateConflict
from core.text import normalize_answer, prompt_key
from core.types import Edit, EditDraft, RoutingDecision
from db.idempotency import IdempotencyKey

RESOLUTIONS = ("refuse", "replace", "retire", "keep")


@dataclass(frozen=True)
class Clash:
    """One active edit a draft runs into: why (same prompt or in scope) and its scope score."""

    edit: Edit
    why: str  # "same prompt" | "in scope"
    score: float | None = None

    def to_dict(self) -> dict:
        return self.edit.to_dict() | {"why": self.why, "score": None if self.score is None else round(self.score, 6)}


@dataclass(frozen=True)
class Conflicts:
    contradictions: tuple[Clash, ...] = ()
    duplicates: tuple[Clash, ...] = ()
    threshold: float = 0.5
    in_batch: tuple[int, ...] = ()  # positions of other drafts saved with this one that contradict it

    @property
    def any(self) -> bool:
        return bool(self.contradictions or self.duplicates or self.in_batch)

    def summary(self) -> str:
        parts = []
        if self.contradictions:
            parts.append("contradicts " + ", ".join(_clash(c) for c in self.contradictions))
        if self.duplicates:
            parts.append("repeats " + ", ".join(_clash(c) for c in self.duplicates))
        if self.in_batch:
            parts.append("contradicts record(s) " + ", ".join(str(i + 1) for i in self.in_batch) + " of the same batch")
        return "; ".join(parts) or "no conflicts"

    def ids(self) -> list[int]:
        return [c.edit.id for c in (*self.contradictions, *self.duplicates)]

    def to_dict(self) -> dict:
        return {
            "contradictions": [c.to_dict() for c in self.contradictions],
            "duplicates": [c.to_dict() for c in self.duplicates],
            "threshold": self.threshold,
            "summary": self.summary(),
        }


def _clash(c: Clash) -> str:
    how = "same prompt" if c.why == "same prompt" else f"in its scope, {c.score:.2f}"
    return f"#{c.edit.id} (→ {c.edit.target}; {how})"


class ConflictRefused(StateConflict):
    """The draft conflicts with active edits and no resolution was chosen: nothing was saved (409)."""

    def __init__(self, conflicts: Conflicts):
        super().__init__(
            f"not saved: this edit {conflicts.summary()}; choose how to settle it "
            "(replace the old edit's target, retire it, or keep both with a reason)"
        )
        self.conflicts = conflicts


def find_conflicts(services, drafts: Sequence[EditDraft]) -> list[Conflicts]:
    """The conflicts of each (clean) draft with the active edits (one routing pass for all of them) and
    with the other drafts saved together (an import's file, a batch of API adds). `services` routes: Services,
    or a bare EditLog while the log holds no active edit (the CLI then loads no model)."""
    if not drafts:
        return []
    with services.writes_first():  # a write's check: ahead of waiting reads for the model
        decisions = services.route([d.prompt for d in drafts])  # after a sync: other instances' edits count too
    in_batch = contradicting_drafts(drafts)
    out = []
    for n, (draft, decision) in enumerate(zip(drafts, decisions)):
        clashes = _clashes(draft, decision)
        contradictions = tuple(c for c in clashes if not _same(c.edit.target, draft.target))
        duplicates = tuple(c for c in clashes if _same(c.edit.target, draft.target))
        out.append(Conflicts(contradictions, duplicates, decision.threshold, in_batch.get(n, ())))
    return out


def contradicting_drafts(drafts: Sequence[EditDraft]) -> dict[int, tuple[int, ...]]:
    """Position -> positions of the other drafts with the same prompt and a different target (only positions
    that have any): one dict over all drafts, so a 100,000-record import file costs one pass."""
    by_prompt: dict[str, list[int]] = {}
    for m, draft in enumerate(drafts):
        by_prompt.setdefault(prompt_key(draft.prompt), []).append(m)
    out = {}
    for group in by_prompt.values():
        if len(group) < 2:
            continue
        for n in group:
            others = tuple(m for m in group if m != n and not _same(drafts[m].target, drafts[n].target))
            if others:
                out[n] = others
    return out


def settle(
    services,
    draft: EditDraft,
    conflicts: Conflicts,
    actor: str,
    resolution: str = "refuse",
    reason: str | None = None,
    probes: Sequence[tuple[str, str]] = (),
    key: IdempotencyKey | None = None,
) -> tuple[Edit | None, list[Edit]]:
    """Save the draft (with its (prompt, expect) probe prompts, and its idempotency key if the request sent
    one: db.idempotency) as the resolution says (see the module doc): (the new edit or None, changed edits)."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    if conflicts.in_batch:
        raise ConflictRefused(conflicts)
    if not conflicts.any:
        return services.resolve(draft, actor, reason=reason, probes=probes, key=key)
    if resolution == "refuse":
        raise ConflictRefused(conflicts)
    if resolution == "keep":
        if not (reason or "").strip():
            raise InvalidInput("keeping both edits needs a reason (it is kept in the audit log)")
        return services.resolve(
            draft, actor, reason=f"kept beside {_ids(conflicts)}: {reason.strip()}", probes=probes, key=key
        )
    if resolution == "retire":
        return services.resolve(
            draft, actor, retire=conflicts.ids(), reason=reason or "replaced by a new edit", probes=probes, key=key
        )
    if not conflicts.contradictions:  # replace, but only duplicates: the old edits already say this
        raise StateConflict(f"nothing to replace: {_ids(conflicts)} already answer {draft.target!r}")
    return services.resolve(
        draft,
        actor,
        replace=[c.edit.id for c in conflicts.contradictions],
        reason=reason or "target replaced",
        key=key,
    )


def _ids(conflicts: Conflicts) -> str:
    return ", ".join(f"#{i}" for i in conflicts.ids())


def _clashes(draft: EditDraft, decision: RoutingDecision) -> list[Clash]:
    """The retrieved candidates with the draft's very prompt (retrieval by embedding finds an identical prompt
    at cosine 1), then those whose scope covers it, best score first."""
    key, same, covered = prompt_key(draft.prompt), [], []
    for c in decision.candidates:
        if prompt_key(c.edit.prompt) == key:
            same.append(Clash(c.edit, "same prompt", c.score))
        elif c.score >= decision.threshold:
            covered.append(Clash(c.edit, "in scope", c.score))
    return same + covered


def _same(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)
