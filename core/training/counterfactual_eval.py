"""Measuring a counterfactual model: does it answer per the edit in its prompt?

- reliability / generalization: share of edit prompts / paraphrases, given their own edit, whose
  greedy answer starts with the new target (core.text.answer_starts_with, as the eval contract);
- misrouted_keeps_base (when a base model is given): share of unrelated prompts that, wrongly handed
  to the counterfactual model with the record's edit, still get the base model's answer. It says
  what a scope-classifier mistake costs, and whether training on negatives would pay.

Invariant: measuring never trains; greedy decoding makes the numbers repeatable.
"""

from __future__ import annotations

from core.base_model import BaseModel
from core.counterfactual import CounterfactualModel
from core.datasets import EditCase
from core.rates import rounded_share
from core.text import answer_starts_with, same_answer
from core.types import Edit


def measure_counterfactual(model: CounterfactualModel, cases: list[EditCase], base: BaseModel | None = None) -> dict:
    edits = [Edit(i + 1, c.edit.prompt, c.edit.target) for i, c in enumerate(cases)]
    own = [(e, e.prompt) for e in edits]
    para = [(e, p) for e, c in zip(edits, cases) for p in c.paraphrases]
    answers = model.answer(own + para)
    targets = [e.target for e, _ in own + para]
    hits = [answer_starts_with(a, t) for a, t in zip(answers, targets)]
    out = {
        "reliability": rounded_share(hits[: len(own)]),
        "generalization": rounded_share(hits[len(own) :]),
        "n_prompts": len(own),
        "n_paraphrases": len(para),
    }
    if base is not None:
        wrong = [(e, u) for e, c in zip(edits, cases) for u in c.unrelated]
        cf = model.answer(wrong)
        plain = base.answer([u for _, u in wrong])
        out["misrouted_keeps_base"] = rounded_share(same_answer(a, b) for a, b in zip(cf, plain))
        out["misrouted_follows_edit"] = rounded_share([answer_starts_with(a, e.target) for a, (e, _) in zip(cf, wrong)])
    return out
