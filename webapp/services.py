"""Services: one edit log (the truth) and one SeracEditor (its in-memory cache), kept in step.

Invariants:
- every write goes to the database first; the index changes only after the commit succeeded, so a
  failed write leaves both as they were;
- writes and index updates happen under one lock, so readers never see the index ahead of or behind
  the log for long, and `check_consistency` can prove they match;
- on start the index is rebuilt from the log's active edits; after that `sync` follows the audit log
  (the change feed) so edits written by other processes or app instances sharing the database reach
  this index before the next query; applying a change twice is harmless (it re-reads current state);
- if updating the index fails after a commit, the index is rebuilt from the log before the error
  propagates, so the two never stay apart;
- model calls share one slot (`model_slot`), so concurrent probes queue instead of thrashing the CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.config import SeracConfig
from core.errors import EditorError, InvalidInput
from core.text import clean_field
from core.serac import SeracEditor
from core.types import Edit, EditDraft, RoutingDecision, RoutingRecord
from db import probe_prompts
from db.repository import EditRepository

THRESHOLD_KEY = "threshold"


@dataclass(frozen=True)
class Consistency:
    ok: bool
    active_in_log: int
    in_index: int
    missing: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()


class Services:
    def __init__(self, config: SeracConfig, repository: EditRepository, editor: SeracEditor):
        self.config, self.repository, self.editor = config, repository, editor
        self.write_lock = threading.RLock()
        self.model_slot = threading.Lock()
        self._seen_audit_id = 0
        self._load_threshold()
        self.rebuild_index()

    def rebuild_index(self) -> int:
        """Re-embed every active edit of the log into a fresh index; returns how many."""
        with self.write_lock:
            self.editor.memory.clear()
            self._seen_audit_id = self.repository.last_audit_id()  # read first: later changes get replayed
            active = self.repository.active_edits()
            with self.model_slot:
                for start in range(0, len(active), 1024):
                    self.editor.add_edits(active[start:start + 1024])
            return len(active)

    def sync(self) -> int:
        """Apply changes other writers made to the log since we last looked; returns how many edits changed."""
        with self.write_lock:
            last, edit_ids, setting_changed = self.repository.changes_since(self._seen_audit_id)
            if setting_changed:
                self._load_threshold()
            current = self.repository.get_many(sorted(edit_ids)) if edit_ids else []
            stale = [e for e in current if self.editor.memory.get(e.id) != (e if e.status == "active" else None)]
            self.editor.remove_edits([e.id for e in stale if e.status != "active"])
            self._index([e for e in stale if e.status == "active"])
            self._seen_audit_id = last
            return len(stale)

    # ---- writes -------------------------------------------------------------------------
    def add_edit(self, draft: EditDraft, actor: str) -> Edit:
        return self.add_edits([draft], actor, action="add")[0]

    def add_edits(self, drafts: Sequence[EditDraft], actor: str, action: str = "import",
                  reason: str | None = None) -> list[Edit]:
        with self.write_lock:
            added = self.repository.add_edits(drafts, actor, action, reason)
            self._index(added)
            return added

    def add_edits_by_actor(self, groups: Sequence[tuple[str, Sequence[EditDraft]]],
                           action: str = "add") -> list[list[Edit] | EditorError]:
        """Several actors' adds: one transaction per actor (all-or-nothing for that actor), then one index pass
        for everything committed; per group, its edits or the EditorError that refused it (nothing written)."""
        with self.write_lock:
            results: list[list[Edit] | EditorError] = []
            try:
                for actor, drafts in groups:
                    try:
                        results.append(self.repository.add_edits(drafts, actor, action))
                    except EditorError as exc:
                        results.append(exc)
            finally:  # what committed reaches the index even if a later group failed unexpectedly
                self._index([e for r in results if not isinstance(r, EditorError) for e in r])
            return results

    def retire(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        with self.write_lock:
            edit = self.repository.retire(edit_id, actor, reason)
            self.editor.remove_edits([edit_id])
            return edit

    def restore(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        with self.write_lock:
            edit = self.repository.restore(edit_id, actor, reason)
            self._index([edit])
            return edit

    def change_target(self, edit_id: int, target: str, actor: str, reason: str | None = None) -> Edit:
        with self.write_lock:
            edit = self.repository.change_target(edit_id, target, actor, reason)
            if edit.status == "active":
                self._index([edit])
            return edit

    def set_threshold(self, value: object, actor: str, reason: str | None = None) -> float:
        threshold = parse_threshold(value)
        with self.write_lock:
            self.repository.set_setting(THRESHOLD_KEY, repr(threshold), actor, reason)
            self.editor.threshold = threshold
        return threshold

    # ---- queries ------------------------------------------------------------------------
    def ask(self, queries: Sequence[str], actor: str, log: bool = True) -> list[RoutingRecord]:
        """Route and answer queries (validated), logging each record in the probe log."""
        clean = [self._clean_query(q) for q in queries]
        self.sync()
        with self.model_slot:
            records = self.editor.ask(clean)
        if log:
            for record in records:
                self.repository.log_probe(record, actor)
        return records

    def route(self, queries: Sequence[str], threshold: float | None = None) -> list[RoutingDecision]:
        """Routing decisions only (no generation, not logged), e.g. for conflict checks and threshold sweeps."""
        clean = [self._clean_query(q) for q in queries]
        self.sync()
        with self.model_slot:
            return self.editor.route(clean, threshold)[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The scope embedder's vectors for texts (the space the edit index lives in)."""
        with self.model_slot:
            return self.editor.embedder.encode(list(texts))

    def add_probe(self, edit_id: int, prompt: str, expect: str, actor: str) -> probe_prompts.ProbePrompt:
        """Keep a curator's probe prompt with an edit (audited)."""
        return probe_prompts.add_probe(self.repository.engine, edit_id, prompt, expect, actor,
                                       self.config.max_prompt_chars)

    def probes_for(self, edit_ids: Sequence[int]) -> dict[int, list[probe_prompts.ProbePrompt]]:
        return probe_prompts.probes_for(self.repository.engine, list(edit_ids))

    def check_consistency(self) -> Consistency:
        with self.write_lock:
            self.sync()
            log_ids = {e.id for e in self.repository.active_edits()}
            index_ids = set(self.editor.memory.ids())
        return Consistency(log_ids == index_ids, len(log_ids), len(index_ids),
                           tuple(sorted(log_ids - index_ids)), tuple(sorted(index_ids - log_ids)))

    def _index(self, edits: Sequence[Edit]) -> None:
        """Embed committed edits into the index; on failure, rebuild it from the log, then re-raise."""
        if not edits:
            return
        try:
            with self.model_slot:
                self.editor.add_edits(edits)
        except BaseException:
            self.rebuild_index()
            raise

    def _load_threshold(self) -> None:
        stored = self.repository.get_setting(THRESHOLD_KEY)
        self.editor.threshold = float(stored) if stored is not None else self.config.threshold

    def _clean_query(self, query: object) -> str:
        return clean_field("prompt", query, self.config.max_prompt_chars)


def parse_threshold(value: object) -> float:
    """A threshold from user input: a number in [0, 1], or InvalidInput."""
    try:
        threshold = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"threshold must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"threshold must be in [0, 1], got {threshold}")
    return threshold
