"""The base model f(x): the untouched model that answers every query outside all edits' scopes.

A completion ("The capital of France is") is continued as written. A question or an instruction
(core.forms) goes through the model's chat template when it has one: an instruction-tuned model
such as SmolLM2-Instruct, prompted with a bare question, mostly continues with an empty line.

`generation` serves applications (the OpenAI-compatible routes): a completion prompt under the same rule, or a
whole chat (system message and history included) through the chat template, with the request's settings.

Invariant: the base model never sees an edit; its answer to a query depends on the query alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jinja2 import TemplateError

from core.errors import InvalidInput
from core.forms import is_chat_form
from core.generation import Generation, GenerationSettings, Prompt, TextGeneration
from core.lm import CausalLM
from core.text import first_line


class BaseModel(Protocol):
    def answer(self, queries: Sequence[str]) -> list[str]:
        """One answer per query, in order."""
        ...

    def generation(self, prompt: Prompt, settings: GenerationSettings) -> TextGeneration:
        """The continuation of a completion prompt or a chat (all its messages), built now, generated when read."""
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

    def generation(self, prompt: Prompt, settings: GenerationSettings) -> TextGeneration:
        return Generation(self.lm, self.prompt(prompt) if isinstance(prompt, str) else self.chat(prompt), settings)

    def chat(self, messages) -> str:
        """A chat as the text the model continues: its chat template, or plain 'role: content' lines without one."""
        turns = [(m.role, m.content) for m in messages]
        if not self.lm.has_chat_template:
            return "".join(f"{role.capitalize()}: {content}\n" for role, content in turns) + "Assistant:"
        try:
            return self.lm.chat_text(turns)
        except TemplateError as exc:  # a template that refuses a role or an order of turns
            raise InvalidInput(f"messages: the model's chat template refuses this chat: {exc}") from exc
