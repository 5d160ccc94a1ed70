"""Services: one edit log (the truth) and one SeracEditor (its in-memory cache), kept in step.

Invariants:
- every write goes to the database first; the index changes only after the commit succeeded, so a
  failed write leaves both as they were;
- writes and index updates happen under one lock, so readers never see the index ahead of or behind
  the log for long, and `check_consistency` can prove they match;
- on start the index is rebuilt from the log's active edits;
- model calls share one slot (`model_slot`), so concurrent probes queue instead of thrashing the CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import SeracConfig
from core.errors import InvalidInput
from core.text import clean_field
from core.serac import SeracEditor
from core.types import Edit, EditDraft, RoutingRecord
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
        stored = repository.get_setting(THRESHOLD_KEY)
        editor.threshold = float(stored) if stored is not None else config.threshold
        self.rebuild_index()

    def rebuild_index(self) -> int:
        """Re-embed every active edit of the log into a fresh index; returns how many."""
        with self.write_lock:
            self.editor.memory.clear()
            active = self.repository.active_edits()
            with self.model_slot:
                for start in range(0, len(active), 1024):
                    self.editor.add_edits(active[start:start + 1024])
            return len(active)

    # ---- writes -------------------------------------------------------------------------
    def add_edit(self, draft: EditDraft, actor: str) -> Edit:
        return self.add_edits([draft], actor, action="add")[0]

    def add_edits(self, drafts: Sequence[EditDraft], actor: str, action: str = "import") -> list[Edit]:
        with self.write_lock:
            added = self.repository.add_edits(drafts, actor, action)
            self._index(added)
            return added

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
        with self.model_slot:
            records = self.editor.ask(clean)
        if log:
            for record in records:
                self.repository.log_probe(record, actor)
        return records

    def check_consistency(self) -> Consistency:
        with self.write_lock:
            log_ids = {e.id for e in self.repository.active_edits()}
            index_ids = set(self.editor.memory.ids())
        return Consistency(log_ids == index_ids, len(log_ids), len(index_ids),
                           tuple(sorted(log_ids - index_ids)), tuple(sorted(index_ids - log_ids)))

    def _index(self, edits: Sequence[Edit]) -> None:
        with self.model_slot:
            self.editor.add_edits(edits)

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
