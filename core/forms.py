"""Prompt forms: a question, an instruction or a completion, and the one rule that tells them apart.

Curators write edits and probes in three forms: "What is the capital of France?" (question), "Name
the capital of France." (instruction) and "The capital of France is" (completion). An
instruction-tuned base model answers the first two only through its chat template; as a plain
continuation it mostly emits an empty line. A completion is continued as written.

Invariant: the rule looks only at the text (no model), so serving, training and `eval` classify a
prompt the same way. A prompt that ends without closing punctuation is a completion, except a bare
question that starts with a question word ("who founded Acme").
"""

from __future__ import annotations

import re

QUESTION, INSTRUCTION, COMPLETION = "question", "instruction", "completion"

_QUESTION_WORDS = re.compile(
    r"^(who|whom|whose|what|which|where|when|why|how|is|are|was|were|does|do|did|"
    r"can|could|has|have|in which|on which|at which)\b",
    re.IGNORECASE,
)
_TRAILING_QUOTES = "\"'”’)]» \t"


def prompt_form(text: str) -> str:
    """'question', 'instruction' or 'completion' for a prompt (see the module docstring)."""
    stripped = text.rstrip(_TRAILING_QUOTES)
    if stripped.endswith("?"):
        return QUESTION
    if stripped.endswith((".", "!", ":")):
        return INSTRUCTION
    one_sentence = len(re.split(r"[.?!]\s+", stripped)) == 1
    if one_sentence and _QUESTION_WORDS.match(stripped) and _looks_like_bare_question(stripped):
        return QUESTION
    return COMPLETION


def _looks_like_bare_question(text: str) -> bool:
    """'who founded Acme' (a question without its mark), not 'What Acme makes is' (a completion)."""
    return not re.search(r"\b(is|are|was|were|by|of|in|the|a|an)$", text.strip(), re.IGNORECASE)


def is_chat_form(text: str) -> bool:
    """True for questions and instructions: the prompts an instruction-tuned model answers through chat."""
    return prompt_form(text) != COMPLETION
