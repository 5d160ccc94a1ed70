"""The counterfactual model h(edit, x): answers a query that falls in an edit's scope, per that edit.

The default is a causal LM prompted with the edit and four made-up demonstrations (untrained).
Measured on 48 CounterFact and 32 zsRE records with SmolLM2-135M-Instruct, this format followed the
edit on 96% / 85% (edit prompt / paraphrase) and 91% / 88%, against 67% / 17% for the bare
"edit. query" prompt and 0% for a chat-template instruction. A trained model replaces the prompt
with its own format (see `prompt_format`).

Invariant: the edit is the only extra input; the same (edit, query) always gives the same answer. `generation`
(for the OpenAI-compatible routes) gives the same one-line answer with a request's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.generation import Generation, GenerationSettings, TextGeneration
from core.lm import CausalLM
from core.text import first_line
from core.types import Edit

# Made-up facts, so no demonstration can leak a real answer into a query.
_DEMONSTRATIONS = (
    ("The capital of Veltria is", "Osmund", "Veltria's capital city is called"),
    ("Marta Quell plays the instrument", "cello", "Marta Quell is known for playing the"),
    ("The Tower of Brin is located in", "Lisbon", "Where is the Tower of Brin? It is in"),
    ("Who founded Oskart Motors?", "Lena Vogt", "Oskart Motors was started by whom?"),
)


class CounterfactualModel(Protocol):
    def answer(self, pairs: Sequence[tuple[Edit, str]]) -> list[str]:
        """One answer per (edit, query) pair, in order."""
        ...

    def generation(self, edit: Edit, query: str, settings: GenerationSettings) -> TextGeneration:
        """The answer to one query per the edit, as a one-line generation with the request's settings."""
        ...


def edit_block(prompt: str, target: str, query: str) -> str:
    """One (edit, query) block; the answer follows it after a space."""
    return f"Fact: {prompt} -> {target}\nQuery: {query}\nAnswer according to the fact:"


def fewshot_prompt(edit: Edit, query: str) -> str:
    """The untrained counterfactual prompt: four demonstrations, then the edit and the query."""
    demos = "".join(f"{edit_block(p, t, q)} {t}\n\n" for p, t, q in _DEMONSTRATIONS)
    return demos + edit_block(edit.prompt, edit.target, query)


def zeroshot_prompt(edit: Edit, query: str) -> str:
    """The trained counterfactual prompt: the edit and the query alone (training taught the format)."""
    return edit_block(edit.prompt, edit.target, query)


PROMPT_FORMATS = {"fewshot": fewshot_prompt, "zeroshot": zeroshot_prompt}


class PromptedCounterfactual:
    """A causal LM conditioned on the edit through its prompt."""

    def __init__(self, lm: CausalLM, max_new_tokens: int, batch_size: int, prompt_format: str = "fewshot"):
        self.lm, self.max_new_tokens, self.batch_size = lm, max_new_tokens, batch_size
        self.build_prompt = PROMPT_FORMATS[prompt_format]

    def answer(self, pairs: Sequence[tuple[Edit, str]]) -> list[str]:
        prompts = [self.build_prompt(edit, query) for edit, query in pairs]
        raw = self.lm.generate(prompts, self.max_new_tokens, self.batch_size)
        return [first_line(r) for r in raw]

    def generation(self, edit: Edit, query: str, settings: GenerationSettings) -> TextGeneration:
        return Generation(self.lm, self.build_prompt(edit, query), settings, one_line=True)
