"""The base model f(x): the untouched model that answers every query outside all edits' scopes.

Invariant: the base model never sees an edit; its answer to a query depends on the query alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.lm import CausalLM
from core.text import first_line


class BaseModel(Protocol):
    def answer(self, queries: Sequence[str]) -> list[str]:
        """One answer per query, in order."""
        ...


class LMBaseModel:
    """A causal LM asked to continue the query as it is (greedy, first line)."""

    def __init__(self, lm: CausalLM, max_new_tokens: int, batch_size: int):
        self.lm, self.max_new_tokens, self.batch_size = lm, max_new_tokens, batch_size

    def answer(self, queries: Sequence[str]) -> list[str]:
        raw = self.lm.generate(list(queries), self.max_new_tokens, self.batch_size)
        return [first_line(r) for r in raw]
