"""Training examples for the counterfactual model h(edit, x): the zero-shot prompt, then the answer.

In scope (SERAC): for each record, (edit, edit prompt) and (edit, each paraphrase) -> the edit's new
target. Optional negatives (`share` > 0): (edit, unrelated prompt of the same record) -> the base model's own
greedy answer to that prompt (`answer_base`), so a query the scope classifier routes by mistake
still gets the answer locality compares against (the base model's, not the dataset's true answer).
Each answer ends with a line break: the model learns to stop there, which keeps answers short.

Invariant: the prompt is exactly core.counterfactual.zeroshot_prompt, the format the served model
gets (the checkpoint says prompt_format 'zeroshot'); the loss covers only the answer tokens.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.counterfactual import zeroshot_prompt
from core.datasets import EditCase
from core.types import Edit

IGNORE = -100  # label of tokens outside the loss


@dataclass(frozen=True)
class AnswerExample:
    prompt: str
    answer: str  # " target\n": what the model should continue with
    in_scope: bool


def examples(
    cases: list[EditCase], share: float, seed: int, answer_base: Callable[[Sequence[str]], list[str]] | None = None
) -> list[AnswerExample]:
    """In-scope examples, plus `share` of negatives answered by `answer_base` (needed when share > 0)."""
    out = []
    for case in cases:
        edit = Edit(0, case.edit.prompt, case.edit.target)
        for query in (case.edit.prompt, *case.paraphrases):
            out.append(AnswerExample(zeroshot_prompt(edit, query), f" {edit.target.strip()}\n", True))
    if share > 0:
        if answer_base is None:
            raise ValueError("negatives need the base model's answers (answer_base)")
        picked = negative_queries(cases, round(share * len(out) / (1 - share)), seed)
        answers = answer_base([query for _, query in picked])
        out += [
            AnswerExample(zeroshot_prompt(edit, query), f" {answer.strip()}\n", False)
            for (edit, query), answer in zip(picked, answers)
            if answer.strip()
        ]
    return out


def negative_queries(cases: list[EditCase], n: int, seed: int) -> list[tuple[Edit, str]]:
    """Up to n (edit, unrelated prompt of the same record) pairs: near misses the edit must not change."""
    pool = [(Edit(0, c.edit.prompt, c.edit.target), u) for c in cases for u in c.unrelated]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def collate(tokenizer, batch: list[AnswerExample], device: str) -> dict[str, torch.Tensor]:
    """Right-padded input_ids / attention_mask / labels (labels only on the answer tokens)."""
    rows = []
    for ex in batch:
        p = tokenizer(ex.prompt, add_special_tokens=True).input_ids
        a = tokenizer(ex.answer, add_special_tokens=False).input_ids
        rows.append((p + a, [IGNORE] * len(p) + a))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row_ids, row_labels) in enumerate(rows):
        ids[i, : len(row_ids)] = torch.tensor(row_ids)
        labels[i, : len(row_labels)] = torch.tensor(row_labels)
        mask[i, : len(row_ids)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
