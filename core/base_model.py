"""The base model f(x): the untouched model that answers every query outside all edits' scopes.

A completion ("The capital of France is") is continued as written. A question or an instruction
(core.forms) goes through the model's chat template when it has one: an instruction-tuned model
such as SmolLM2-Instruct, prompted with a bare question, mostly continues with an empty line.

Invariant: the base model never sees an edit; its answer to a query depends on the query alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.forms import is_chat_form
from core.lm import CausalLM
from core.text import first_line


class BaseModel(Protocol):
    def answer(self, queries: Sequence[str]) -> list[str]:
        """One answer per query, in order."""
        ...


class LMBaseModel:
    """A causal LM: completions continued as they are, questions and instructions asked through chat."""

    def __init__(self, lm: CausalLM, max_new_tokens: int, batch_size: int):
        self.lm, self.max_new_tokens, self.batch_size = lm, max_new_tokens, batch_size

    def prompt(self, query: str) -> str:
        """The text the model continues for this query."""
        return self.lm.chat_prompt(query) if is_chat_form(query) and self.lm.has_chat_template else query

    def answer(self, queries: Sequence[str]) -> list[str]:
        raw = self.lm.generate([self.prompt(q) for q in queries], self.max_new_tokens, self.batch_size)
        return [first_line(r) for r in raw]
