"""EditLog: the edit log's operations that need no model, for the CLI's log commands and as the base of
Services (which also keeps the index in step).

Invariants:
- every write is one transaction: an edit (or a batch) with its audit rows and its probe prompts;
- input is validated before anything is written (the repository's clean_draft, core.text.clean_field);
- reads never open a write transaction;
- without models it routes only while the log holds no active edit (then no edit can govern a query, so
  every query goes to the base model); otherwise `route` raises ModelsNeeded and Services must be used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from core.config import SeracConfig
from core.errors import EditorError, InvalidInput
from core.text import clean_field
from core.types import Edit, EditDraft, RoutingDecision, unrouted
from db import probe_prompts
from db.idempotency import IdempotencyKey
from db.repository import EditRepository

THRESHOLD_KEY = "threshold"
Probes = Sequence[tuple[str, str]]  # (prompt, expect) for one edit: expect 'in' (paraphrase) or 'out' (near miss)


class ModelsNeeded(EditorError):
    """Routing against active edits needs the scope classifier (Services), not the bare edit log."""


class EditLog:
    def __init__(self, config: SeracConfig, repository: EditRepository):
        self.config, self.repository = config, repository

    # ---- writes -------------------------------------------------------------------------
    def add_edit(self, draft: EditDraft, actor: str) -> Edit:
        return self.add_edits([draft], actor, action="add")[0]

    def add_edits(
        self,
        drafts: Sequence[EditDraft],
        actor: str,
        action: str = "import",
        reason: str | None = None,
        probes: Sequence[Probes] | None = None,
    ) -> list[Edit]:
        """Save edits, their audit rows and (per edit) their probe prompts in one transaction."""
        return self.repository.add_edits(drafts, actor, action, reason, probes)

    def resolve(
        self,
        draft: EditDraft,
        actor: str,
        retire: Sequence[int] = (),
        replace: Sequence[int] = (),
        reason: str | None = None,
        probes: Probes = (),
        key: IdempotencyKey | None = None,
    ) -> tuple[Edit | None, list[Edit]]:
        """A new edit with its conflicts settled, in one transaction (services.conflicts.settle), with its
        idempotency key if the request sent one."""
        return self.repository.resolve(draft, actor, retire, replace, reason, probes, key)

    def retire(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        return self.repository.retire(edit_id, actor, reason)

    def restore(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        return self.repository.restore(edit_id, actor, reason)

    def change_target(self, edit_id: int, target: str, actor: str, reason: str | None = None) -> Edit:
        return self.repository.change_target(edit_id, target, actor, reason)

    def set_threshold(self, value: object, actor: str, reason: str | None = None) -> float:
        threshold = parse_threshold(value)
        serving = self.stored_threshold()
        self.repository.set_setting(
            THRESHOLD_KEY, threshold, actor, reason, serving if serving is not None else self.config.threshold
        )
        return threshold

    def add_probe(self, edit_id: int, prompt: str, expect: str, actor: str) -> probe_prompts.ProbePrompt:
        """Keep a curator's probe prompt with an edit (audited)."""
        return probe_prompts.add_probe(
            self.repository.engine, edit_id, prompt, expect, actor, self.config.max_prompt_chars
        )

    def writes_first(self) -> contextlib.AbstractContextManager:
        """A context for a write's model work (conflict checks, probe checks): Services lets it go ahead of
        waiting reads; the bare log has no model, so nothing to order."""
        return contextlib.nullcontext()

    # ---- reads --------------------------------------------------------------------------
    def probes_for(self, edit_ids: Sequence[int]) -> dict[int, list[probe_prompts.ProbePrompt]]:
        return probe_prompts.probes_for(self.repository.engine, list(edit_ids))

    def route(self, queries: Sequence[str], threshold: float | None = None) -> list[RoutingDecision]:
        """Routing without models (see the invariants): every query to the base model, or ModelsNeeded."""
        clean = [self.clean_query(q) for q in queries]
        if self.repository.count_edits("active"):
            raise ModelsNeeded("the edit log holds active edits: routing against them needs the scope classifier")
        return unrouted(clean, self.serving_threshold() if threshold is None else threshold)

    def clean_query(self, query: object) -> str:
        """A query as asked (validated like an edit's prompt), or InvalidInput."""
        return clean_field("prompt", query, self.config.max_prompt_chars)

    def serving_threshold(self) -> float:
        """The threshold in force: the stored setting, else the configured default."""
        stored = self.stored_threshold()
        return stored if stored is not None else self.config.threshold

    def stored_threshold(self) -> float | None:
        stored = self.repository.get_setting(THRESHOLD_KEY)
        return float(stored) if stored is not None else None

    def counts(self) -> dict:
        """Edits by status and audit rows by action, from one snapshot of the log."""
        return self.repository.counts()


def parse_threshold(value: object) -> float:
    """A threshold from user input: a number in [0, 1], or InvalidInput."""
    try:
        threshold = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"threshold must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"threshold must be in [0, 1], got {threshold}")
    return threshold
