"""LogTexts: the edit memory's texts read from the edit log (core.memory.EditTexts), so a memory serving a log of a
million edits keeps no Python object per edit: a candidate's text is read when it is retrieved.

Invariants: `fetch` returns only edits the log holds as active now (an edit retired by another instance since the
last sync is never served); the log is the truth, so `put`, `drop` and `clear` have nothing to keep.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.types import Edit
from db.repository import EditRepository


class LogTexts:
    def __init__(self, repository: EditRepository):
        self.repository = repository

    def put(self, edits: Sequence[Edit]) -> None:
        """Nothing to keep: the log already holds them."""

    def drop(self, edit_ids: Sequence[int]) -> None:
        """Nothing to drop: the log keeps every edit."""

    def clear(self) -> None:
        """Nothing kept."""

    def fetch(self, edit_ids: Sequence[int]) -> dict[int, Edit]:
        if not edit_ids:
            return {}
        return {e.id: e for e in self.repository.get_many(list(edit_ids)) if e.status == "active"}
